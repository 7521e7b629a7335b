// Package workers runs CPU-bound tasks away from the goroutines that do
// network IO.
//
// A Pool hands each task to a bounded set of worker goroutines
// (github.com/alitto/pond/v2) through a bounded queue, and the submitting
// goroutine waits for the result on a channel. Submission never blocks: when
// the queue is full the task is rejected at once, so the caller can answer
// "busy" instead of queueing without bound. Inline runs the task on the
// caller's goroutine: the original experiment's baseline.
//
// Both implement Runner, so a handler does not care which one it has.
package workers

import (
	"errors"
	"time"

	"offload/metrics"
)

// Errors a Runner returns instead of running a task.
var (
	// ErrQueueFull means the queue held -queue jobs already; nothing ran.
	ErrQueueFull = errors.New("work queue is full")
	// ErrQueueTimeout means the task waited in the queue longer than the
	// pool's queue timeout and was dropped before it ran.
	ErrQueueTimeout = errors.New("task waited in the queue longer than the queue timeout")
	// ErrStopped means the pool no longer takes tasks: the server is
	// shutting down.
	ErrStopped = errors.New("worker pool is stopped")
	// ErrTaskPanicked wraps a panic raised by a task. The task counts as
	// completed; the panic does not take the worker or the server down.
	ErrTaskPanicked = errors.New("task panicked")
)

// Task is CPU work. Run is called at most once, on a worker goroutine.
type Task interface {
	Run()
}

// Costed is implemented by tasks that know about how much CPU time they
// need; the pool runs only long ones at lowered priority.
type Costed interface {
	Cost() time.Duration
}

// Timing is when a task entered the queue, started and finished running.
// For a task that never ran, Started and Finished are zero.
type Timing struct {
	Queued, Started, Finished time.Time
}

// QueueWait is how long the task waited before it started (or was dropped).
func (t Timing) QueueWait() time.Duration { return t.Started.Sub(t.Queued) }

// Work is how long the task ran.
func (t Timing) Work() time.Duration { return t.Finished.Sub(t.Started) }

// Runner runs tasks and reports when they ran.
type Runner interface {
	// Do runs t and returns when it has finished, or returns one of
	// ErrQueueFull, ErrQueueTimeout or ErrStopped when t did not run, or
	// ErrTaskPanicked when it ran and panicked.
	Do(t Task) (Timing, error)
	// Saturated reports whether a task submitted now would be rejected.
	Saturated() bool
}

// Inline runs each task on the calling goroutine. It never rejects.
type Inline struct {
	m *metrics.Metrics
}

// NewInline returns a Runner that does the work where it is asked for,
// counting it in m like the pool does so both modes can be compared.
func NewInline(m *metrics.Metrics) *Inline { return &Inline{m: m} }

// Do runs t on the calling goroutine.
func (in *Inline) Do(t Task) (Timing, error) {
	in.m.JobsSubmitted.Inc()
	in.m.JobsRunning.Inc()
	now := time.Now()
	tm := Timing{Queued: now, Started: now}
	err := runTask(t)
	tm.Finished = time.Now()
	in.m.JobsRunning.Dec()
	in.m.JobsCompleted.Inc()
	in.m.WorkTime.Update(tm.Work().Seconds())
	return tm, err
}

// Saturated is always false: inline work is limited by connections, not by
// a queue.
func (in *Inline) Saturated() bool { return false }
