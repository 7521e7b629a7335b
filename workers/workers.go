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
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

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
	// CPU is the CPU time the task's thread spent running it; 0 for a task
	// cheaper than TimedMinCost, which is not timed.
	CPU time.Duration
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
	res.Timing.CPU, res.Err = runTask(t)
	res.Timing.Finished = time.Now()
	in.running.Add(-1)
	in.m.CountCompleted(req.Urgency, res.Timing.Work(), res.Timing.CPU)
	return res
}

// Unready is always "": inline work is limited by connections, not by a
// queue.
func (in *Inline) Unready() string { return "" }

// Queued is always 0.
func (in *Inline) Queued() int { return 0 }

// Running is the number of tasks running on their callers' goroutines.
func (in *Inline) Running() int { return int(in.running.Load()) }

// TimedMinCost is the smallest calibrated cost of a task whose CPU time
// runTask measures: two reads of the thread's CPU clock are system calls of
// about half a microsecond each, 2% of a task this size and far more of
// the cheapest ones.
const TimedMinCost = 50 * time.Microsecond

// runTask runs t and returns the CPU time it took, 0 for a task cheaper
// than TimedMinCost. It turns a panic in t into an error, so that the
// submitter is always answered and the worker survives.
//
// The goroutine stays on its thread for a timed task, so that the thread's
// own CPU clock measures the task alone, whatever else the machine runs:
// the server's metrics can then compare the CPU its jobs used with the CPU
// the whole process used over the same interval.
func runTask(t Task) (cpu time.Duration, err error) {
	timed := t.Cost() >= TimedMinCost
	var start time.Duration
	if timed {
		runtime.LockOSThread()
		start = threadCPU()
	}
	defer func() {
		if timed {
			cpu = threadCPU() - start
			runtime.UnlockOSThread()
		}
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrTaskPanicked, r)
		}
	}()
	t.Run()
	return 0, nil
}

// threadCPU is the calling thread's CPU time so far, 0 if the clock cannot
// be read (it always can on Linux).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
