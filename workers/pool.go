package workers

import (
	"fmt"
	"sync"
	"time"

	"github.com/alitto/pond/v2"

	"offload/metrics"
	"offload/overload"
)

// Config sizes a Pool.
type Config struct {
	// Queue is the admission and ordering policy, with the number of
	// workers and the queue's capacity, and whom to tell about overloads
	// (Changed). Its Start and Drop are the pool's own and must be left
	// nil.
	Queue overload.Config
	// WorkerNice, when positive, is the nice value of the OS threads that
	// run long tasks (see NiceMinCost) while the workers are saturated: the
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

// lingerFor is how long a worker whose thread is lowered waits for the next
// job before it ends, and its thread with it. Under saturation with a short
// queue (deadlines keep it almost empty) the next job comes within a
// millisecond, and a new lowered thread per job would cost a thread's
// creation and teardown each time.
const lingerFor = time.Millisecond

// Pool runs tasks on a bounded set of worker goroutines.
type Pool struct {
	cfg  Config
	ctrl *overload.Controller
	pond pond.Pool
	m    *metrics.Metrics
	jobs sync.Pool
	idle chan *job // lingering workers receive here; unbuffered
}

// job carries one task through the pool. Jobs are recycled, so the hand-off
// to a worker and back allocates nothing.
type job struct {
	meta   overload.Job // meta.Payload is the job itself
	p      *Pool
	task   Task
	timing Timing
	err    error
	done   chan struct{}
	work   func() // p.work(j), bound once so that starting a worker does not allocate
}

// NewPool starts a pool. Stop it with Stop.
func NewPool(cfg Config, m *metrics.Metrics) (*Pool, error) {
	if cfg.WorkerNice < 0 || cfg.WorkerNice > 19 {
		return nil, fmt.Errorf("worker pool: worker nice %d, need 0 (off) to 19", cfg.WorkerNice)
	}
	if cfg.Queue.Start != nil || cfg.Queue.Drop != nil {
		return nil, fmt.Errorf("worker pool: Queue.Start and Queue.Drop are the pool's own; leave them nil")
	}
	if cfg.WorkerNice > 0 {
		if err := probePriority(cfg.WorkerNice); err != nil {
			return nil, fmt.Errorf("worker pool: %w", err)
		}
	}
	p := &Pool{cfg: cfg, m: m, idle: make(chan *job)}
	q := cfg.Queue
	q.Start = p.start
	q.Drop = p.dropped
	ctrl, err := overload.New(q, time.Now())
	if err != nil {
		return nil, fmt.Errorf("worker pool: %w", err)
	}
	p.ctrl = ctrl
	m.ObserveJobs(p)
	// The controller never starts more workers than it has, but a worker
	// it counts as gone may still be on its way out of pond when the next
	// starts: pond's own queue, as long as the pool, takes that one.
	p.pond = pond.NewPool(q.Workers, pond.WithQueueSize(q.Workers), pond.WithNonBlocking(true))
	p.jobs.New = func() any {
		j := &job{p: p, done: make(chan struct{}, 1)}
		j.meta.Payload = j
		j.work = func() { p.work(j) }
		return j
	}
	return p, nil
}

// Controller is the pool's queue policy, for its metrics.
func (p *Pool) Controller() *overload.Controller { return p.ctrl }

// Do submits t and waits until a worker has run it, or returns at once
// when the controller refuses it. A queued task may also be dropped before
// it runs (it waited too long, its deadline passed, more urgent work took
// its place, or the pool was aborted).
func (p *Pool) Do(t Task, req Request) Result {
	j := p.jobs.Get().(*job)
	j.task, j.err, j.timing = t, nil, Timing{}
	j.meta.Urgency, j.meta.Cost, j.meta.Deadline = req.Urgency, t.Cost(), req.Deadline

	p.m.JobsSubmitted.Inc()
	if r := p.ctrl.Submit(&j.meta, time.Now()); r != overload.Admitted {
		p.m.CountRefused(j.meta.Urgency, r, false, j.meta.RetryAfter)
		res := Result{Outcome: r, RetryAfter: j.meta.RetryAfter}
		p.recycle(j)
		return res
	}
	p.m.JobsAdmitted.Inc()
	<-j.done
	res := Result{Outcome: j.meta.Outcome, RetryAfter: j.meta.RetryAfter, Err: j.err, Timing: j.timing}
	p.recycle(j)
	return res
}

func (p *Pool) recycle(j *job) {
	j.task = nil
	p.jobs.Put(j)
}

// start runs on the controller's lock: it starts a worker for j.
func (p *Pool) start(m *overload.Job) {
	j := m.Payload.(*job)
	select {
	case p.idle <- j: // a lingering worker takes it
		return
	default:
	}
	if err := p.pond.Go(j.work); err != nil {
		// pond refuses only after Stop, and Stop closes the controller
		// first, under the same lock as this call: it cannot happen.
		panic(fmt.Sprintf("worker pool: pond refused a worker: %v", err))
	}
}

// dropped runs on the controller's lock: it answers a queued job that will
// not run.
func (p *Pool) dropped(m *overload.Job) {
	j := m.Payload.(*job)
	p.m.QueueWait.Update(time.Since(m.Queued).Seconds())
	p.m.CountRefused(m.Urgency, m.Outcome, true, m.RetryAfter)
	j.done <- struct{}{}
}

// work is a worker: it runs its first job, then whatever the controller
// hands it next, and ends when there is nothing left.
//
// A worker goroutine is new whenever the pool had run dry, and a new
// goroutine's stack is small: the task runs, and its submitter is
// answered, from this shallow frame, with the bookkeeping in functions of
// their own, so that no job pays for growing the stack.
func (p *Pool) work(j *job) {
	lowered := false
	for j != nil {
		started, low := p.begin(j)
		lowered = lowered || low
		j.timing.CPU, j.err = runTask(j.task)
		ran := p.end(j, started)
		j.done <- struct{}{} // j is its submitter's again from here
		if next := p.ctrl.Next(ran); next != nil {
			j = next.Payload.(*job)
		} else if j = nil; lowered {
			j = p.linger()
		}
	}
}

// linger waits up to lingerFor for the controller to start a worker, and
// takes that worker's first job. The controller already counts this worker
// as gone; a job it hands over here counts as a new worker's.
func (p *Pool) linger() *job {
	t := time.NewTimer(lingerFor)
	defer t.Stop()
	select {
	case j := <-p.idle:
		return j
	case <-t.C:
		return nil
	}
}

// begin notes that j starts now and, with the workers saturated, lowers
// the worker's priority for a long job; it reports whether it did.
func (p *Pool) begin(j *job) (time.Time, bool) {
	started := time.Now()
	j.timing = Timing{Queued: j.meta.Queued, Started: started}
	p.m.QueueWait.Update(j.timing.QueueWait().Seconds())
	// Lower the priority only when the workers are saturated (every one is
	// busy, or work was refused within the last second): then every core
	// is busy with work and IO has to be able to cut in. Otherwise there is
	// CPU to spare, and a lowered thread would only lose time to every
	// other process. (A backlog in the queue was the signal before the
	// adaptive policy, which keeps the queue so short, under deadlines
	// often empty, that the workers ran unlowered at full load and health
	// checks waited.) The worker keeps the lowered thread until the queue
	// runs dry and it exits, taking the thread with it.
	if p.cfg.WorkerNice > 0 && j.meta.Cost >= NiceMinCost && p.ctrl.Saturated(started) {
		// NewPool checked that this works; should it fail now, the task
		// still runs, at normal priority.
		return started, lowerPriority(p.cfg.WorkerNice) == nil
	}
	return started, false
}

// end notes that j finished now and returns what the controller needs to
// know about the run.
func (p *Pool) end(j *job, started time.Time) overload.Ran {
	finished := time.Now()
	j.timing.Finished = finished
	p.m.CountCompleted(j.meta.Urgency, finished.Sub(started), j.timing.CPU)
	return j.meta.Ran(started, finished)
}

// Unready is the Static policy's readiness rule, kept as it always was: not
// ready while the queue is full. Under the Adaptive policy the pool is
// always ready: an overload is answered by fast refusals, and readiness
// that followed it would take every instance of a fleet out of its load
// balancer at once when the whole fleet is overloaded.
func (p *Pool) Unready() string {
	if p.cfg.Queue.Policy == overload.Static && p.ctrl.Full() {
		return "the work queue is full"
	}
	return ""
}

// Queued is the number of tasks waiting for a worker.
func (p *Pool) Queued() int { return p.ctrl.Queued() }

// Running is the number of tasks a worker is running now.
func (p *Pool) Running() int { return p.ctrl.Running() }

// Abort drops every task that has not started yet, answering its
// submitter with overload.Shutdown, and refuses new ones. Running tasks
// finish. It is the forced end of a shutdown that ran out of time.
func (p *Pool) Abort() { p.ctrl.Abort(time.Now()) }

// Stop stops taking tasks, waits until every queued and running task has
// finished and its submitter has been answered, and releases the workers.
func (p *Pool) Stop() {
	p.ctrl.Close()
	p.pond.StopAndWait()
}
