// Package workers runs CPU-bound tasks away from the goroutines that do
// network IO.
//
// A Pool runs each task on one of a bounded set of worker goroutines
// (github.com/alitto/pond/v2), behind a queue whose admission and order an
// overload.Controller decides; the submitting goroutine waits for the result
// on a channel. Submission never blocks: a task the controller refuses is
// answered at once, so the caller can say "busy" instead of queueing without
// bound. Inline runs the task on the caller's goroutine: the original
// experiment's baseline.
//
// Both implement Runner, so a handler does not care which one it has.
package workers

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"offload/metrics"
	"offload/overload"
)

// ErrTaskPanicked wraps a panic raised by a task. The task counts as
// completed; the panic does not take the worker or the server down.
var ErrTaskPanicked = errors.New("task panicked")

// Task is CPU work. Run is called at most once, on a worker goroutine.
type Task interface {
	Run()
	// Cost is about how much CPU time Run needs on one core: it feeds the
	// controller's predictions, and only long tasks run at lowered
	// priority.
	Cost() time.Duration
}

// Request is what the client said about a task.
type Request struct {
	// Urgency is RFC 9218's urgency, 0 (most urgent) to 7.
	Urgency int
	// Deadline is when the client stops waiting; zero for none.
	Deadline time.Time
}

// Timing is when a task entered the queue, started and finished running.
// For a task that never ran, Started and Finished are zero.
type Timing struct {
	Queued, Started, Finished time.Time
}

// QueueWait is how long the task waited before it started.
func (t Timing) QueueWait() time.Duration { return t.Started.Sub(t.Queued) }

// Work is how long the task ran.
func (t Timing) Work() time.Duration { return t.Finished.Sub(t.Started) }

// Result is what became of a task.
type Result struct {
	// Outcome is overload.Admitted when the task ran, and otherwise why it
	// did not.
	Outcome overload.Reason
	// RetryAfter is the seconds a refused client should wait before it
	// tries again.
	RetryAfter int
	// Err is ErrTaskPanicked (wrapped) when the task ran and panicked.
	Err    error
	Timing Timing
}

// Runner runs tasks and reports when they ran.
type Runner interface {
	// Do runs t and returns when it has finished, or returns at once with
	// the reason it will not run.
	Do(t Task, req Request) Result
	// Unready says why the runner should get no traffic now, or "" when it
	// should: /readyz's answer.
	Unready() string
	// Queued is the number of tasks waiting; Running the number running.
	Queued() int
	Running() int
}

// Inline runs each task on the calling goroutine. It never refuses.
type Inline struct {
	m       *metrics.Metrics
	running atomic.Int64
}

// NewInline returns a Runner that does the work where it is asked for,
// counting it in m like the pool does so both modes can be compared.
func NewInline(m *metrics.Metrics) *Inline {
	in := &Inline{m: m}
	m.ObserveJobs(in)
	return in
}

// Do runs t on the calling goroutine.
func (in *Inline) Do(t Task, req Request) Result {
	in.m.JobsSubmitted.Inc()
	in.m.JobsAdmitted.Inc()
	in.running.Add(1)
	now := time.Now()
	res := Result{Timing: Timing{Queued: now, Started: now}}
	res.Err = runTask(t)
	res.Timing.Finished = time.Now()
	in.running.Add(-1)
	in.m.CountCompleted(req.Urgency, res.Timing.Work())
	return res
}

// Unready is always "": inline work is limited by connections, not by a
// queue.
func (in *Inline) Unready() string { return "" }

// Queued is always 0.
func (in *Inline) Queued() int { return 0 }

// Running is the number of tasks running on their callers' goroutines.
func (in *Inline) Running() int { return int(in.running.Load()) }

// runTask turns a panic in t into an error, so that the submitter is always
// answered and the worker survives.
func runTask(t Task) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrTaskPanicked, r)
		}
	}()
	t.Run()
	return nil
}
