package workers

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"offload/internal/await"
	"offload/metrics"
	"offload/overload"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gateTask blocks its worker until the gate is opened.
type gateTask struct {
	gate <-chan struct{}
	ran  atomic.Bool
}

func (g *gateTask) Run() {
	<-g.gate
	g.ran.Store(true)
}

func (g *gateTask) Cost() time.Duration { return time.Millisecond }

type funcTask func()

func (f funcTask) Run()                { f() }
func (f funcTask) Cost() time.Duration { return 0 }

// submit runs p.Do(t) on its own goroutine and returns where its result
// will arrive.
func submit(p Runner, t Task) <-chan Result {
	ch := make(chan Result, 1)
	go func() { ch <- p.Do(t, Request{Urgency: overload.DefaultUrgency}) }()
	return ch
}

// do runs t with the default urgency and no deadline.
func do(p Runner, t Task) Result { return p.Do(t, Request{Urgency: overload.DefaultUrgency}) }

// adaptive is the default policy's pool, with the server's defaults.
func adaptive(workers, queue int) Config {
	return Config{Queue: overload.Config{
		Policy: overload.Adaptive, Workers: workers, Capacity: queue,
		Target: 5 * time.Millisecond, Interval: 100 * time.Millisecond, MaxRetryAfter: 30 * time.Second,
	}}
}

// static is the Static policy's pool: FIFO, refused only when full.
func static(workers, queue int, timeout time.Duration) Config {
	return Config{Queue: overload.Config{
		Policy: overload.Static, Workers: workers, Capacity: queue, QueueTimeout: timeout, MaxRetryAfter: time.Second,
	}}
}

func receive(t *testing.T, ch <-chan Result) Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Do did not return within 5s")
		return Result{}
	}
}

func newPool(t *testing.T, cfg Config) (*Pool, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	p, err := NewPool(cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	return p, m
}

func TestFullQueueRejectsAtOnce(t *testing.T) {
	p, m := newPool(t, static(1, 1, 0))
	defer p.Stop()
	gate := make(chan struct{})
	first, second := &gateTask{gate: gate}, &gateTask{gate: gate}

	r1 := submit(p, first)
	await.True(t, "first task running", 5*time.Second, func() bool { return p.Running() == 1 })
	r2 := submit(p, second)
	await.True(t, "second task queued", 5*time.Second, func() bool { return p.Queued() == 1 })
	if p.Unready() == "" {
		t.Fatal("static pool with a busy worker and a full queue reports ready")
	}

	third := &gateTask{gate: gate}
	r3 := submit(p, third)
	// The gate is still closed, so the only way Do can return is by
	// rejecting; a blocking submit would hang here and fail the test.
	if r := receive(t, r3); r.Outcome != overload.QueueFull || r.RetryAfter != 1 {
		t.Fatalf("third Do returned %v (Retry-After %d), want QueueFull and 1", r.Outcome, r.RetryAfter)
	}

	close(gate)
	for _, ch := range []<-chan Result{r1, r2} {
		if r := receive(t, ch); r.Outcome != overload.Admitted || r.Err != nil {
			t.Fatalf("queued task: %v %v", r.Outcome, r.Err)
		}
	}
	if !first.ran.Load() || !second.ran.Load() || third.ran.Load() {
		t.Fatalf("ran: first %v second %v third %v, want true true false", first.ran.Load(), second.ran.Load(), third.ran.Load())
	}
	if got := [3]uint64{m.JobsSubmitted.Get(), m.JobsCompleted.Get(), m.JobsRejected.Get()}; got != [3]uint64{3, 2, 1} {
		t.Fatalf("submitted, completed, rejected = %v, want [3 2 1]", got)
	}
	// A worker answers its submitter before it reports back to the
	// controller, which is when the running count drops: wait for it.
	await.True(t, "the pool idle", 5*time.Second, func() bool {
		return p.Unready() == "" && p.Queued() == 0 && m.JobsQueued.Get() == 0 && m.JobsRunning.Get() == 0
	})
}

func TestNoQueueRejectsWhenWorkersBusy(t *testing.T) {
	p, _ := newPool(t, static(1, 0, 0))
	defer p.Stop()
	gate := make(chan struct{})
	r1 := submit(p, &gateTask{gate: gate})
	await.True(t, "task running", 5*time.Second, func() bool { return p.Running() == 1 })
	if p.Unready() == "" {
		t.Fatal("busy static pool without a queue reports ready")
	}
	if r := receive(t, submit(p, &gateTask{gate: gate})); r.Outcome != overload.QueueFull {
		t.Fatalf("Do returned %v, want QueueFull", r.Outcome)
	}
	close(gate)
	if r := receive(t, r1); r.Outcome != overload.Admitted {
		t.Fatal(r.Outcome)
	}
}

func TestQueueTimeoutDropsBeforeRunning(t *testing.T) {
	const timeout = 20 * time.Millisecond
	p, m := newPool(t, static(1, 4, timeout))
	defer p.Stop()
	gate := make(chan struct{})
	r1 := submit(p, &gateTask{gate: gate})
	await.True(t, "first task running", 5*time.Second, func() bool { return p.Running() == 1 })
	late := &gateTask{gate: gate}
	r2 := submit(p, late)
	await.True(t, "second task queued", 5*time.Second, func() bool { return p.Queued() == 1 })
	// Hold the worker until the queued task has certainly waited too long.
	time.Sleep(3 * timeout)
	close(gate)

	if r := receive(t, r1); r.Outcome != overload.Admitted {
		t.Fatal(r.Outcome)
	}
	r := receive(t, r2)
	if r.Outcome != overload.DroppedStale {
		t.Fatalf("late task returned %v, want DroppedStale", r.Outcome)
	}
	if late.ran.Load() {
		t.Fatal("a task past its queue timeout ran anyway")
	}
	if m.JobsDropped.Get() != 1 || m.JobsCompleted.Get() != 1 {
		t.Fatalf("dropped %d completed %d, want 1 1", m.JobsDropped.Get(), m.JobsCompleted.Get())
	}

	// A task that did not wait long runs normally.
	if r := receive(t, submit(p, funcTask(func() {}))); r.Outcome != overload.Admitted {
		t.Fatalf("prompt task: %v", r.Outcome)
	}
}

func TestStopDrainsQueuedTasks(t *testing.T) {
	p, m := newPool(t, static(1, 8, 0))
	gate := make(chan struct{})
	tasks := make([]*gateTask, 4)
	results := make([]<-chan Result, len(tasks))
	for i := range tasks {
		tasks[i] = &gateTask{gate: gate}
		results[i] = submit(p, tasks[i])
	}
	await.True(t, "one running and three queued", 5*time.Second, func() bool { return p.Running() == 1 && p.Queued() == 3 })

	stopped := make(chan struct{})
	go func() { p.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while tasks were still queued")
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	for i, ch := range results {
		if r := receive(t, ch); r.Outcome != overload.Admitted || !tasks[i].ran.Load() {
			t.Fatalf("task %d: %v ran %v; Stop must let queued tasks finish", i, r.Outcome, tasks[i].ran.Load())
		}
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return after the queue drained")
	}
	if r := do(p, funcTask(func() {})); r.Outcome != overload.Shutdown {
		t.Fatalf("Do after Stop returned %v, want Shutdown", r.Outcome)
	}
	if m.JobsCompleted.Get() != 4 {
		t.Fatalf("completed %d, want 4", m.JobsCompleted.Get())
	}
}

func TestAbortDropsQueuedTasks(t *testing.T) {
	p, m := newPool(t, static(1, 8, 0))
	defer p.Stop()
	gate := make(chan struct{})
	running := &gateTask{gate: gate}
	r1 := submit(p, running)
	await.True(t, "task running", 5*time.Second, func() bool { return p.Running() == 1 })
	queued := &gateTask{gate: gate}
	r2 := submit(p, queued)
	await.True(t, "task queued", 5*time.Second, func() bool { return p.Queued() == 1 })

	p.Abort()
	close(gate)
	if r := receive(t, r1); r.Outcome != overload.Admitted || !running.ran.Load() {
		t.Fatalf("running task: %v ran %v; Abort must let it finish", r.Outcome, running.ran.Load())
	}
	if r := receive(t, r2); r.Outcome != overload.Shutdown || queued.ran.Load() {
		t.Fatalf("queued task: %v ran %v, want Shutdown and not run", r.Outcome, queued.ran.Load())
	}
	if m.JobsDropped.Get() != 1 {
		t.Fatalf("dropped %d, want 1", m.JobsDropped.Get())
	}
}

func TestPanickingTaskIsAnswered(t *testing.T) {
	for name, r := range map[string]func(*metrics.Metrics) Runner{
		"pool": func(m *metrics.Metrics) Runner {
			p, err := NewPool(static(1, 1, 0), m)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Stop)
			return p
		},
		"inline": func(m *metrics.Metrics) Runner { return NewInline(m) },
	} {
		t.Run(name, func(t *testing.T) {
			runner := r(metrics.New())
			r := do(runner, funcTask(func() { panic("boom") }))
			if r.Outcome != overload.Admitted || !errors.Is(r.Err, ErrTaskPanicked) {
				t.Fatalf("Do of a panicking task returned %v %v, want it run with ErrTaskPanicked", r.Outcome, r.Err)
			}
			if r := do(runner, funcTask(func() {})); r.Outcome != overload.Admitted || r.Err != nil {
				t.Fatalf("runner broken after a panic: %v %v", r.Outcome, r.Err)
			}
		})
	}
}

func TestCountersBalanceUnderConcurrency(t *testing.T) {
	p, m := newPool(t, static(2, 2, 0))
	var wg sync.WaitGroup
	var ok, full atomic.Int64
	for range 8 {
		wg.Go(func() {
			for range 200 {
				switch r := do(p, funcTask(func() { time.Sleep(10 * time.Microsecond) })); r.Outcome {
				case overload.Admitted:
					ok.Add(1)
				case overload.QueueFull:
					full.Add(1)
				default:
					t.Errorf("unexpected outcome %v", r.Outcome)
				}
			}
		})
	}
	wg.Wait()
	p.Stop()
	if ok.Load()+full.Load() != 1600 {
		t.Fatalf("%d ok + %d full != 1600", ok.Load(), full.Load())
	}
	if m.JobsSubmitted.Get() != 1600 || m.JobsCompleted.Get() != uint64(ok.Load()) || m.JobsRejected.Get() != uint64(full.Load()) {
		t.Fatalf("submitted %d completed %d rejected %d; callers saw %d ok %d full",
			m.JobsSubmitted.Get(), m.JobsCompleted.Get(), m.JobsRejected.Get(), ok.Load(), full.Load())
	}
	if m.JobsQueued.Get() != 0 || m.JobsRunning.Get() != 0 {
		t.Fatalf("gauges after drain: queued %v running %v", m.JobsQueued.Get(), m.JobsRunning.Get())
	}
}

func TestInlineRunsOnCaller(t *testing.T) {
	m := metrics.New()
	in := NewInline(m)
	var ran bool
	r := do(in, funcTask(func() { ran = true })) // no race: same goroutine
	if r.Outcome != overload.Admitted || r.Err != nil || !ran || r.Timing.Finished.Before(r.Timing.Started) {
		t.Fatalf("inline Do: %+v ran %v", r, ran)
	}
	if in.Unready() != "" || m.JobsCompleted.Get() != 1 {
		t.Fatalf("unready %q completed %d", in.Unready(), m.JobsCompleted.Get())
	}
}

// TestTaskCPUIsTheThreadsOwn runs a spinning and a sleeping task on both
// runners: the spinning task's CPU time is its wall time at most and a
// good part of it, the sleeping task's a small part, and the metric sums
// what the results report.
func TestTaskCPUIsTheThreadsOwn(t *testing.T) {
	const d = 30 * time.Millisecond
	spin := costedTask{func() {
		for start := time.Now(); time.Since(start) < d; {
		}
	}, d}
	sleep := costedTask{func() { time.Sleep(d) }, d}
	pool, pm := newPool(t, static(1, 1, 0))
	im := metrics.New()
	for name, r := range map[string]struct {
		run Runner
		m   *metrics.Metrics
	}{"pool": {pool, pm}, "inline": {NewInline(im), im}} {
		busy, idle := do(r.run, spin), do(r.run, sleep)
		// On a shared machine a spinning thread can wait for a core; it
		// still gets most of its wall time.
		if cpu, wall := busy.Timing.CPU, busy.Timing.Work(); cpu <= wall/3 || cpu > wall+time.Millisecond {
			t.Errorf("%s: spinning task took %v CPU in %v, want most of it and no more", name, cpu, wall)
		}
		if cpu, wall := idle.Timing.CPU, idle.Timing.Work(); cpu >= wall/3 {
			t.Errorf("%s: sleeping task took %v CPU in %v, want little", name, cpu, wall)
		}
		if cheap := do(r.run, funcTask(func() {})); cheap.Timing.CPU != 0 {
			t.Errorf("%s: a task below TimedMinCost was timed: %v", name, cheap.Timing.CPU)
		}
		if got, want := r.m.JobsCPU.Get(), (busy.Timing.CPU + idle.Timing.CPU).Seconds(); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s: %s = %v, want the tasks' %v", name, metrics.JobsCPU, got, want)
		}
	}
}

func TestNewPoolValidates(t *testing.T) {
	for _, cfg := range []Config{static(0, 1, 0), static(1, -1, 0)} {
		if _, err := NewPool(cfg, metrics.New()); err == nil {
			t.Errorf("NewPool(%+v) succeeded, want an error", cfg)
		}
	}
}

// BenchmarkHandOff measures submit-and-wait on an empty task: the cost the
// pool adds to every /data request in offload mode.
func BenchmarkHandOff(b *testing.B) {
	for _, c := range []struct {
		name   string
		runner func(*metrics.Metrics) (Runner, func())
	}{
		{"inline", func(m *metrics.Metrics) (Runner, func()) { return NewInline(m), func() {} }},
		{"pool-static", func(m *metrics.Metrics) (Runner, func()) {
			p, err := NewPool(static(2, 64, 0), m)
			if err != nil {
				b.Fatal(err)
			}
			return p, p.Stop
		}},
		{"pool-adaptive", func(m *metrics.Metrics) (Runner, func()) {
			p, err := NewPool(adaptive(2, 64), m)
			if err != nil {
				b.Fatal(err)
			}
			return p, p.Stop
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, stop := c.runner(metrics.New())
			defer stop()
			task := funcTask(func() {})
			b.ReportAllocs()
			for b.Loop() {
				if r := do(r, task); r.Outcome != overload.Admitted {
					b.Fatal(r.Outcome)
				}
			}
		})
	}
}

func threadNice(t *testing.T) int {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Error(err)
	}
	return 20 - prio
}

// costedTask is a funcTask that reports a cost.
type costedTask struct {
	run  func()
	cost time.Duration
}

func (c costedTask) Run()                { c.run() }
func (c costedTask) Cost() time.Duration { return c.cost }

func TestWorkerNiceLowersOnlyLongTasksOnBusyWorkers(t *testing.T) {
	// One worker held at a gate while tasks queue up behind it: each of
	// them starts with every worker busy, as under saturation.
	cfg := static(1, 32, 0)
	cfg.WorkerNice = 7
	p, _ := newPool(t, cfg)
	gate := make(chan struct{})
	first := submit(p, &gateTask{gate: gate})
	await.True(t, "the gate task running", 5*time.Second, func() bool { return p.Running() == 1 })
	var seen [20]atomic.Int64
	var results []<-chan Result
	for i := range seen {
		results = append(results, submit(p, costedTask{func() { seen[i].Store(int64(threadNice(t))) }, NiceMinCost}))
	}
	await.True(t, "the queue to fill", 5*time.Second, func() bool { return p.Queued() == len(seen) })
	close(gate)
	for _, ch := range append(results, first) {
		if r := receive(t, ch); r.Outcome != overload.Admitted {
			t.Fatal(r.Outcome)
		}
	}
	p.Stop()
	for i := range seen {
		if n := seen[i].Load(); n != 7 {
			t.Fatalf("long task %d started with every worker busy at nice %d, want 7", i, n)
		}
	}

	// With a worker idle, and for short or unsized tasks, work runs at
	// normal priority: nothing to protect IO from, and no thread to pin.
	cfg = static(2, 8, 0)
	cfg.WorkerNice = 7
	q, _ := newPool(t, cfg)
	var normal [20]int
	for i := range normal {
		var task Task = costedTask{func() { normal[i] = threadNice(t) }, NiceMinCost}
		switch i % 3 {
		case 1:
			task = costedTask{func() { normal[i] = threadNice(t) }, NiceMinCost - 1}
		case 2:
			task = funcTask(func() { normal[i] = threadNice(t) })
		}
		if r := do(q, task); r.Outcome != overload.Admitted {
			t.Fatal(r.Outcome)
		}
	}
	q.Stop()
	for i, n := range normal {
		if n != 0 {
			t.Fatalf("task %d with a worker idle ran at nice %d, want 0", i, n)
		}
	}
	// Threads that ran work are never handed back to the scheduler, so no
	// other goroutine inherits a lowered priority.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if n := threadNice(t); n != 0 {
				t.Errorf("a goroutine outside the pool ran at nice %d", n)
			}
		})
	}
	wg.Wait()
}

func TestWorkerNiceValidated(t *testing.T) {
	for _, nice := range []int{-1, 20} {
		cfg := static(1, 0, 0)
		cfg.WorkerNice = nice
		if _, err := NewPool(cfg, metrics.New()); err == nil {
			t.Errorf("WorkerNice %d accepted", nice)
		}
	}
}

func TestLoweredWorkerLingersForTheNextJob(t *testing.T) {
	cfg := static(1, 4, 0)
	cfg.WorkerNice = 7
	p, _ := newPool(t, cfg)
	defer p.Stop()
	tid := func() (int, int) {
		var id, nice int
		if r := do(p, costedTask{func() { id, nice = unix.Gettid(), threadNice(t) }, NiceMinCost}); r.Outcome != overload.Admitted {
			t.Fatal(r.Outcome)
		}
		return id, nice
	}
	// One worker, busy with the job itself: saturated, so the job runs
	// lowered, and its worker waits a moment for another.
	first, nice := tid()
	if nice != 7 {
		t.Fatalf("job on the only worker ran at nice %d, want 7", nice)
	}
	if next, _ := tid(); next != first {
		t.Fatalf("the next job at once ran on thread %d, not the lingering worker's %d", next, first)
	}
	// After lingerFor the worker has ended, and its lowered thread with it.
	time.Sleep(50 * lingerFor) // the worker's timer, with a wide margin
	if later, _ := tid(); later == first {
		t.Fatalf("a job long after ran on the lowered thread %d: the worker did not end", later)
	}
}
