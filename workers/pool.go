package workers

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alitto/pond/v2"

	"offload/metrics"
)

// Config sizes a Pool.
type Config struct {
	// Workers is the number of goroutines that run tasks (> 0).
	Workers int
	// QueueSize is how many tasks may wait for a worker (>= 0). With 0 a
	// task is rejected whenever every worker is busy.
	QueueSize int
	// QueueTimeout, when positive, drops a task that waited longer than
	// this before a worker took it: its client has likely given up, so no
	// CPU should burn on the answer.
	QueueTimeout time.Duration
	// WorkerNice, when positive, is the nice value of the OS threads that
	// run long tasks (see NiceMinCost) while others wait in the queue: the
	// kernel then runs the threads that do network IO first whenever both
	// are runnable. Each worker goroutine keeps such a thread to itself
	// until it exits.
	WorkerNice int
}

// NiceMinCost is the least Cost a task must report to run at WorkerNice.
// A shorter task cannot hold IO back for long, and a lowered thread is tied
// to its worker goroutine and ends with it: when the pool runs dry between
// tiny tasks, every task would pay for a new thread (about 50 µs here),
// which halved throughput at -work 0.
const NiceMinCost = time.Millisecond

// Pool runs tasks on a bounded set of worker goroutines.
type Pool struct {
	cfg   Config
	pond  pond.Pool
	m     *metrics.Metrics
	jobs  sync.Pool
	abort atomic.Bool

	// Own counts rather than pond's: they move exactly when a task changes
	// state, which is what the queue-depth gauges and readiness need.
	queued  atomic.Int64
	running atomic.Int64
}

// job carries one task through the pool. Jobs are recycled, so the hand-off
// to a worker and back allocates nothing.
type job struct {
	p      *Pool
	task   Task
	timing Timing
	err    error
	done   chan struct{}
	run    func() // j.execute, bound once so submitting does not allocate
}

// NewPool starts a pool. Stop it with Stop.
func NewPool(cfg Config, m *metrics.Metrics) (*Pool, error) {
	if cfg.Workers < 1 {
		return nil, fmt.Errorf("worker pool: %d workers, need at least 1", cfg.Workers)
	}
	if cfg.QueueSize < 0 {
		return nil, fmt.Errorf("worker pool: queue size %d, need 0 or more", cfg.QueueSize)
	}
	if cfg.WorkerNice < 0 || cfg.WorkerNice > 19 {
		return nil, fmt.Errorf("worker pool: worker nice %d, need 0 (off) to 19", cfg.WorkerNice)
	}
	if cfg.WorkerNice > 0 {
		if err := probePriority(cfg.WorkerNice); err != nil {
			return nil, fmt.Errorf("worker pool: %w", err)
		}
	}
	p := &Pool{
		cfg: cfg,
		m:   m,
		// Non-blocking: a full queue is an error at once, never a wait.
		pond: pond.NewPool(cfg.Workers, pond.WithQueueSize(cfg.QueueSize), pond.WithNonBlocking(true)),
	}
	p.jobs.New = func() any {
		j := &job{p: p, done: make(chan struct{}, 1)}
		j.run = j.execute
		return j
	}
	return p, nil
}

// Do queues t and waits until a worker has run it. It returns ErrQueueFull
// at once when the queue is full, ErrQueueTimeout when t waited longer than
// the queue timeout, and ErrStopped after Stop or Abort.
func (p *Pool) Do(t Task) (Timing, error) {
	j := p.jobs.Get().(*job)
	j.task = t
	j.timing = Timing{Queued: time.Now()}
	j.err = nil

	p.m.JobsSubmitted.Inc()
	p.queued.Add(1)
	p.m.JobsQueued.Inc()
	if err := p.pond.Go(j.run); err != nil {
		p.queued.Add(-1)
		p.m.JobsQueued.Dec()
		p.m.JobsRejected.Inc()
		j.task = nil
		p.jobs.Put(j)
		if errors.Is(err, pond.ErrPoolStopped) {
			return Timing{}, ErrStopped
		}
		return Timing{}, ErrQueueFull
	}

	<-j.done
	tm, err := j.timing, j.err
	j.task = nil
	p.jobs.Put(j)
	return tm, err
}

// execute runs on a worker goroutine. Sending on done must be the last
// thing it does with j: the submitter recycles j as soon as it receives.
func (j *job) execute() {
	p := j.p
	j.timing.Started = time.Now()
	p.queued.Add(-1)
	p.m.JobsQueued.Dec()
	wait := j.timing.QueueWait()
	p.m.QueueWait.Update(wait.Seconds())

	switch {
	case p.abort.Load():
		j.err = ErrStopped
		p.m.JobsDropped.Inc()
	case p.cfg.QueueTimeout > 0 && wait > p.cfg.QueueTimeout:
		j.err = ErrQueueTimeout
		p.m.JobsDropped.Inc()
	default:
		// Lower the priority only under a backlog: then every core is
		// busy with work and IO has to be able to cut in. Without one there
		// is CPU to spare, and a lowered thread would only lose time to
		// every other process. The worker keeps the lowered thread until
		// the queue runs dry and it exits, taking the thread with it.
		if p.cfg.WorkerNice > 0 && long(j.task) && p.queued.Load() > 0 {
			// NewPool checked that this works; should it fail now, the
			// task still runs, at normal priority.
			_ = lowerPriority(p.cfg.WorkerNice)
		}
		p.running.Add(1)
		p.m.JobsRunning.Inc()
		j.err = runTask(j.task)
		j.timing.Finished = time.Now()
		p.running.Add(-1)
		p.m.JobsRunning.Dec()
		p.m.JobsCompleted.Inc()
		p.m.WorkTime.Update(j.timing.Work().Seconds())
	}
	j.done <- struct{}{}
}

// long reports whether t says it needs at least NiceMinCost of CPU.
func long(t Task) bool {
	c, ok := t.(Costed)
	return ok && c.Cost() >= NiceMinCost
}

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

// Saturated reports whether the queue is full, so that the next task would
// be rejected.
func (p *Pool) Saturated() bool {
	if p.cfg.QueueSize == 0 {
		return p.running.Load() >= int64(p.cfg.Workers)
	}
	return p.queued.Load() >= int64(p.cfg.QueueSize)
}

// Queued is the number of tasks waiting for a worker.
func (p *Pool) Queued() int { return int(p.queued.Load()) }

// Running is the number of tasks a worker is running now.
func (p *Pool) Running() int { return int(p.running.Load()) }

// Abort makes the pool drop every task that has not started yet, answering
// its submitter with ErrStopped. Running tasks finish. It is the forced end
// of a shutdown that ran out of time.
func (p *Pool) Abort() { p.abort.Store(true) }

// Stop stops taking tasks, waits until every queued and running task has
// finished and its submitter has been answered, and releases the workers.
func (p *Pool) Stop() { p.pond.StopAndWait() }
