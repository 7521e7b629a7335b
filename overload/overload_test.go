package overload

import (
	"slices"
	"testing"
	"time"
)

// sim drives a Controller the way a pool would, on a fake clock: workers
// take the jobs Start and Next give them and finish each after its Cost
// times speed. Nothing runs concurrently, so every outcome is exact.
type sim struct {
	t       *testing.T
	c       *Controller
	now     time.Time
	speed   float64 // wall time per unit of cost
	active  []running
	ran     []*Job // in the order they started
	dropped []*Job
	refused map[Reason]int
}

type running struct {
	j   *Job
	end time.Time
}

func newSim(t *testing.T, cfg Config) *sim {
	t.Helper()
	s := &sim{t: t, now: time.Unix(1000, 0), speed: 1, refused: map[Reason]int{}}
	cfg.Start = func(j *Job) { s.begin(j) }
	cfg.Drop = func(j *Job) {
		if j.Outcome == Admitted {
			t.Errorf("dropped job has no reason")
		}
		s.dropped = append(s.dropped, j)
	}
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0 }
	}
	c, err := New(cfg, s.now)
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	return s
}

func (s *sim) begin(j *Job) {
	if j.Started != s.now {
		s.t.Fatalf("job started at %v, now is %v", j.Started.Sub(s.now), s.now)
	}
	s.ran = append(s.ran, j)
	s.active = append(s.active, running{j, s.now.Add(time.Duration(float64(j.Cost) * s.speed))})
}

// advance moves the clock by d, finishing jobs on the way.
func (s *sim) advance(d time.Duration) {
	until := s.now.Add(d)
	for {
		i := -1
		for k, r := range s.active {
			if !r.end.After(until) && (i < 0 || r.end.Before(s.active[i].end)) {
				i = k
			}
		}
		if i < 0 {
			break
		}
		r := s.active[i]
		s.active = slices.Delete(s.active, i, i+1)
		s.now = r.end
		if next := s.c.Next(r.j.Ran(r.j.Started, r.end)); next != nil {
			s.begin(next)
		}
	}
	s.now = until
}

func (s *sim) submit(j *Job) Reason {
	r := s.c.Submit(j, s.now)
	if r != Admitted {
		s.refused[r]++
		if j.RetryAfter < 1 {
			s.t.Errorf("refused job has Retry-After %d", j.RetryAfter)
		}
	}
	return r
}

// offer submits one job of cost and urgency every gap for d, and returns
// how many were admitted.
func (s *sim) offer(d, gap, cost time.Duration, urgency int) (admitted int) {
	for end := s.now.Add(d); s.now.Before(end); s.advance(gap) {
		if s.submit(&Job{Cost: cost, Urgency: urgency}) == Admitted {
			admitted++
		}
	}
	return admitted
}

func adaptive() Config {
	return Config{
		Policy: Adaptive, Order: OrderFIFO, Workers: 2, Capacity: 64,
		Target: 5 * time.Millisecond, Interval: 100 * time.Millisecond, MaxRetryAfter: 30 * time.Second,
	}
}

const job4ms = 4 * time.Millisecond

func TestBurstIsNotAnOverload(t *testing.T) {
	s := newSim(t, adaptive())
	// Light load with a burst of 30 every second: each burst takes 60 ms to
	// drain, within the 100 ms interval.
	for range 3 {
		for range 30 {
			if r := s.submit(&Job{Cost: job4ms, Urgency: 3}); r != Admitted {
				t.Fatalf("burst job refused: %v", r)
			}
		}
		s.offer(time.Second, 20*time.Millisecond, job4ms, 3)
		if st := s.c.Stats(s.now); st.Overloaded || st.Episodes != 0 {
			t.Fatalf("a burst drained within the interval counted as an overload: %+v", st)
		}
	}
	if len(s.refused) != 0 || len(s.dropped) != 0 {
		t.Fatalf("refused %v, dropped %d, want none", s.refused, len(s.dropped))
	}
}

func TestStandingQueueIsAnOverloadAndBoundsTheWait(t *testing.T) {
	s := newSim(t, adaptive())
	// Three times capacity: two workers finish a 4 ms job every 2 ms.
	s.offer(50*time.Millisecond, 667*time.Microsecond, job4ms, 3)
	if s.c.Stats(s.now).Overloaded {
		t.Fatal("overloaded before a whole interval passed")
	}
	s.offer(time.Second, 667*time.Microsecond, job4ms, 3)
	st := s.c.Stats(s.now)
	if !st.Overloaded || st.Episodes != 1 {
		t.Fatalf("a second at 3x capacity: %+v, want one ongoing overload", st)
	}
	// The target is the larger of 5 ms and a job's 4 ms: the bound is 10 ms.
	if st.Target != 5*time.Millisecond || st.Bound != 10*time.Millisecond {
		t.Fatalf("target %v bound %v, want 5ms and 10ms", st.Target, st.Bound)
	}
	if s.refused[PredictedWait] == 0 {
		t.Fatalf("no predicted-wait refusals at 3x: %v", s.refused)
	}
	// Jobs admitted after the first interval wait at most about the bound,
	// where the static queue would have made them wait 64 jobs' worth.
	var late []time.Duration
	for _, j := range s.ran {
		if w := j.Started.Sub(j.Queued); j.Queued.After(s.now.Add(-800*time.Millisecond)) && w > st.Bound+job4ms {
			late = append(late, w)
		}
	}
	if len(late) > 0 {
		t.Fatalf("%d jobs admitted under overload waited past bound + one job: %v", len(late), late[:min(5, len(late))])
	}
	// Nothing admitted is dropped: predictions are exact here, and the jobs
	// queued before the overload was detected run, oldest first.
	if len(s.dropped) != 0 {
		t.Fatalf("%d admitted jobs dropped", len(s.dropped))
	}
	// Throughput holds: the workers never idle.
	if done := len(s.ran); done < 500 {
		t.Fatalf("%d jobs ran in 1.05 s, want about 525", done)
	}
}

func TestOverloadEndsOnlyWhenTheQueueDrains(t *testing.T) {
	s := newSim(t, adaptive())
	s.offer(500*time.Millisecond, 667*time.Microsecond, job4ms, 3)
	if !s.c.Stats(s.now).Overloaded {
		t.Fatal("not overloaded at 3x")
	}
	// Just above capacity the controller keeps the queue short, but it does
	// not drain: still overloaded.
	s.offer(500*time.Millisecond, 1900*time.Microsecond, job4ms, 3)
	if !s.c.Stats(s.now).Overloaded {
		t.Fatal("left the overload while arrivals still exceed capacity")
	}
	// Below capacity the queue drains, and the overload ends within two
	// intervals.
	s.offer(300*time.Millisecond, 4*time.Millisecond, job4ms, 3)
	st := s.c.Stats(s.now)
	if st.Overloaded || st.Episodes != 1 {
		t.Fatalf("after draining: %+v, want one ended episode", st)
	}
	if st.OverloadedFor < 900*time.Millisecond || st.OverloadedFor > 1200*time.Millisecond {
		t.Fatalf("overloaded for %v, want about 1 s", st.OverloadedFor)
	}
	// Back within ten intervals, the overload's bound still holds: no
	// queue of a whole interval builds before it is detected again.
	surge := s.now
	s.offer(300*time.Millisecond, 667*time.Microsecond, job4ms, 3)
	for _, j := range s.ran {
		if w := j.Started.Sub(j.Queued); !j.Queued.Before(surge) && w > st.Bound+job4ms {
			t.Fatalf("a job of the returning overload waited %v, past the bound %v and a job", w, st.Bound)
		}
	}
	// Long after, a burst is absorbed again, as far as an interval drains.
	s.offer(2*time.Second, 10*time.Millisecond, job4ms, 3)
	for i := range 30 {
		if r := s.submit(&Job{Cost: job4ms, Urgency: 3}); r != Admitted {
			t.Fatalf("burst job %d long after the overload: %v", i, r)
		}
	}
}

func TestBurstIsTakenAsFarAsAnIntervalDrainsIt(t *testing.T) {
	for _, order := range []Order{OrderFIFO, OrderLIFO} {
		s := newSim(t, Config{
			Policy: Adaptive, Order: order, Workers: 1, Capacity: 64,
			Target: 5 * time.Millisecond, Interval: 100 * time.Millisecond, MaxRetryAfter: 30 * time.Second,
		})
		s.offer(200*time.Millisecond, 10*time.Millisecond, job4ms, 3)
		// A burst of 60 jobs of 4 ms for one worker: the first 26 fit in an
		// interval (the running job, 25 waiting), the rest are refused at
		// once.
		admitted := 0
		for range 60 {
			switch r := s.submit(&Job{Cost: job4ms, Urgency: 3}); r {
			case Admitted:
				admitted++
			case PredictedWait:
			default:
				t.Fatalf("%v: burst job refused with %v", order, r)
			}
		}
		if admitted != 26 {
			t.Fatalf("%v: %d of the burst admitted, want 26", order, admitted)
		}
		// The machine slows down: the burst takes longer than an interval
		// to drain, and the controller calls it an overload.
		s.speed = 1.5
		s.offer(600*time.Millisecond, 10*time.Millisecond, job4ms, 3)
		st := s.c.Stats(s.now)
		if st.Episodes != 1 || st.Overloaded {
			t.Fatalf("%v: %+v, want one overload, over", order, st)
		}
		// Oldest first, the burst's jobs are next in line and run; newest
		// first, they would wait behind every newcomer, so the old ones
		// that waited past the drop bound are answered instead.
		switch {
		case order == OrderFIFO && len(s.dropped) != 0:
			t.Fatalf("fifo: %d burst jobs dropped, want every one served", len(s.dropped))
		case order == OrderLIFO && len(s.dropped) == 0:
			t.Fatal("lifo: no job dropped, though the oldest waited past the drop bound")
		}
	}
}

func TestShortButStandingQueueKeepsTheOverload(t *testing.T) {
	cfg := adaptive()
	cfg.Workers = 1
	s := newSim(t, cfg)
	s.offer(500*time.Millisecond, 1333*time.Microsecond, job4ms, 3)
	if !s.c.Stats(s.now).Overloaded {
		t.Fatal("not overloaded at 3x")
	}
	for s.c.Queued() > 1 {
		s.advance(100 * time.Microsecond)
	}
	// Exactly at capacity, one job always waits, each for 3 ms: below the
	// 5 ms target, yet the queue never drains. A controller that left the
	// overload here would let the next surge fill the whole queue again
	// before it noticed.
	for range 125 {
		s.advance(s.active[0].end.Sub(s.now) + time.Millisecond)
		if r := s.submit(&Job{Cost: job4ms, Urgency: 3}); r != Admitted {
			t.Fatalf("job at capacity refused: %v", r)
		}
	}
	if !s.c.Stats(s.now).Overloaded {
		t.Fatal("left the overload although the queue never drained")
	}
	surge := s.now
	s.offer(300*time.Millisecond, 1333*time.Microsecond, job4ms, 3)
	bound := s.c.Stats(s.now).Bound
	for _, j := range s.ran {
		if w := j.Started.Sub(j.Queued); !j.Queued.Before(surge) && w > bound+job4ms {
			t.Fatalf("a job of the second surge waited %v, past the bound %v and a job", w, bound)
		}
	}
}

func TestAdaptiveOrderIsLIFOOnlyWhileOverloaded(t *testing.T) {
	cfg := adaptive()
	cfg.Order = OrderAdaptive
	s := newSim(t, cfg)
	for range 4 {
		s.submit(&Job{Cost: job4ms, Urgency: 3})
	}
	if s.c.Stats(s.now).LIFO {
		t.Fatal("LIFO without an overload")
	}
	s.advance(4 * time.Millisecond) // the two queued jobs start, oldest first
	if len(s.ran) != 4 || s.ran[2].Queued.After(s.ran[3].Queued) {
		t.Fatal("not oldest first")
	}
	s.offer(500*time.Millisecond, 667*time.Microsecond, job4ms, 3)
	if st := s.c.Stats(s.now); !st.Overloaded || !st.LIFO {
		t.Fatalf("overloaded with adaptive order: %+v, want LIFO", st)
	}
	// Newest first: of two jobs queued now, the later one starts first.
	first, second := &Job{Cost: job4ms, Urgency: 0}, &Job{Cost: job4ms, Urgency: 0}
	s.submit(first)
	s.advance(time.Microsecond)
	s.submit(second)
	s.advance(20 * time.Millisecond)
	if i, k := slices.Index(s.ran, first), slices.Index(s.ran, second); k < 0 || i < k {
		t.Fatalf("LIFO: the older job started %dth, the newer %dth", i, k)
	}
	s.offer(300*time.Millisecond, 8*time.Millisecond, job4ms, 3)
	if st := s.c.Stats(s.now); st.Overloaded || st.LIFO {
		t.Fatalf("after the overload: %+v, want FIFO again", st)
	}
}

func TestUrgentWorkGoesFirstAndLessUrgentIsRefusedFirst(t *testing.T) {
	s := newSim(t, adaptive())
	s.offer(500*time.Millisecond, 667*time.Microsecond, job4ms, 3)
	if !s.c.Stats(s.now).Overloaded {
		t.Fatal("not overloaded")
	}
	// Under overload, bulk (u=3) at 3x capacity, background (u=6) and
	// urgent (u=0) work on top.
	var urgent, background []*Job
	for end := s.now.Add(500 * time.Millisecond); s.now.Before(end); {
		s.submit(&Job{Cost: job4ms, Urgency: 3})
		s.advance(333 * time.Microsecond)
		b := &Job{Cost: job4ms, Urgency: 6}
		s.submit(b)
		background = append(background, b)
		s.advance(333 * time.Microsecond)
		if len(urgent) < int(s.now.Sub(end.Add(-500*time.Millisecond))/(10*time.Millisecond)) {
			u := &Job{Cost: job4ms, Urgency: 0}
			if r := s.submit(u); r != Admitted {
				t.Fatalf("urgent job refused under overload: %v", r)
			}
			urgent = append(urgent, u)
		}
	}
	s.advance(100 * time.Millisecond)
	for _, u := range urgent {
		if u.Outcome != Admitted || u.Started.IsZero() {
			t.Fatalf("urgent job not run: outcome %v", u.Outcome)
		}
		// It waits at most for a running job to finish.
		if w := u.Started.Sub(u.Queued); w > job4ms {
			t.Fatalf("urgent job waited %v, more than one job", w)
		}
	}
	ranBackground := 0
	for _, b := range background {
		if b.Outcome == Admitted && !b.Started.IsZero() {
			ranBackground++
		}
	}
	if s.refused[Priority] == 0 || ranBackground > len(background)/10 {
		t.Fatalf("background work: %d of %d ran, %d refused for priority; want it refused first",
			ranBackground, len(background), s.refused[Priority])
	}
}

func TestFullQueueMakesRoomForMoreUrgentWork(t *testing.T) {
	cfg := adaptive()
	cfg.Capacity = 3
	s := newSim(t, cfg)
	var jobs []*Job
	for _, u := range []int{3, 3, 5, 3, 5} { // two start, three wait
		j := &Job{Cost: job4ms, Urgency: u}
		if r := s.submit(j); r != Admitted {
			t.Fatalf("job %d refused: %v", len(jobs), r)
		}
		jobs = append(jobs, j)
	}
	if r := s.submit(&Job{Cost: job4ms, Urgency: 5}); r != QueueFull {
		t.Fatalf("equal urgency on a full queue: %v, want QueueFull", r)
	}
	urgent := &Job{Cost: job4ms, Urgency: 1}
	if r := s.submit(urgent); r != Admitted {
		t.Fatalf("urgent job on a full queue: %v, want admitted", r)
	}
	// The newest job of the least urgent level gave its place.
	if len(s.dropped) != 1 || s.dropped[0] != jobs[4] || jobs[4].Outcome != Priority {
		t.Fatalf("dropped %v, want the newest u=5 job with Priority", s.dropped)
	}
	s.advance(4 * time.Millisecond)
	if urgent.Started.IsZero() {
		t.Fatal("the urgent job did not run first")
	}
}

func TestDeadlines(t *testing.T) {
	s := newSim(t, adaptive())
	// Cannot finish even starting now.
	if r := s.submit(&Job{Cost: job4ms, Urgency: 3, Deadline: s.now.Add(3 * time.Millisecond)}); r != Deadline {
		t.Fatalf("job longer than its budget: %v, want Deadline", r)
	}
	s.submit(&Job{Cost: job4ms, Urgency: 3})
	s.submit(&Job{Cost: job4ms, Urgency: 3})
	for range 4 {
		s.submit(&Job{Cost: job4ms, Urgency: 3})
	}
	// Four jobs ahead on two busy workers: about 12 ms to wait, 4 to run.
	if r := s.submit(&Job{Cost: job4ms, Urgency: 3, Deadline: s.now.Add(10 * time.Millisecond)}); r != Deadline {
		t.Fatalf("job that cannot wait its turn: %v, want Deadline", r)
	}
	// Deadlines count the predicted wait twice: 2 × 12 + 4 ms fits in 30.
	fits := &Job{Cost: job4ms, Urgency: 3, Deadline: s.now.Add(30 * time.Millisecond)}
	if r := s.submit(fits); r != Admitted {
		t.Fatalf("job that fits its budget: %v, want admitted", r)
	}
	// The machine slows down: the job can no longer make it and is dropped
	// when a worker reaches it, not run late.
	s.speed = 3
	s.advance(60 * time.Millisecond)
	if fits.Outcome != Deadline || !fits.Started.IsZero() {
		t.Fatalf("job past its deadline: outcome %v started %v, want dropped with Deadline", fits.Outcome, fits.Started)
	}
}

func TestRetryAfter(t *testing.T) {
	cfg := adaptive()
	cfg.MaxRetryAfter = 5 * time.Second
	s := newSim(t, cfg)
	s.offer(time.Second, 667*time.Microsecond, job4ms, 3)
	// At 3x capacity a second of refusals is two seconds of the workers'
	// time: Retry-After 2 (no jitter here).
	j := &Job{Cost: job4ms, Urgency: 3}
	if r := s.submit(j); r == Admitted {
		s.submit(j)
	}
	if j.RetryAfter < 2 || j.RetryAfter > 3 {
		t.Fatalf("Retry-After at 3x: %d, want 2-3", j.RetryAfter)
	}
	// Far beyond capacity it stops at the maximum.
	s.offer(time.Second, 50*time.Microsecond, job4ms, 3)
	j = &Job{Cost: job4ms, Urgency: 3}
	for s.submit(j) == Admitted {
	}
	if j.RetryAfter != 5 {
		t.Fatalf("Retry-After at 40x: %d, want the maximum 5", j.RetryAfter)
	}
	// The jitter stretches it by at most half.
	cfg.Rand = func() float64 { return 0.999 }
	s2 := newSim(t, cfg)
	s2.offer(time.Second, 667*time.Microsecond, job4ms, 3)
	j = &Job{Cost: job4ms, Urgency: 3}
	for s2.submit(j) == Admitted {
	}
	if j.RetryAfter < 3 || j.RetryAfter > 4 {
		t.Fatalf("Retry-After at 3x with the most jitter: %d, want 3-4", j.RetryAfter)
	}
}

func TestStaticPolicyIsABoundedFIFO(t *testing.T) {
	cfg := adaptive()
	cfg.Policy, cfg.Capacity, cfg.QueueTimeout = Static, 4, 7*time.Millisecond
	s := newSim(t, cfg)
	var jobs []*Job
	for i := range 6 {
		j := &Job{Cost: job4ms, Urgency: 7 - i, Deadline: s.now.Add(time.Microsecond)}
		if r := s.submit(j); r != Admitted {
			t.Fatalf("job %d refused: %v (static ignores urgency and deadlines)", i, r)
		}
		jobs = append(jobs, j)
	}
	if r := s.submit(&Job{Cost: job4ms, Urgency: 0}); r != QueueFull {
		t.Fatalf("full static queue: %v, want QueueFull (no room made for urgency)", r)
	}
	s.offer(2*time.Second, 667*time.Microsecond, job4ms, 3)
	if st := s.c.Stats(s.now); st.Overloaded || st.LIFO {
		t.Fatalf("static policy: %+v, want no overload state and FIFO", st)
	}
	for i := 1; i < 4; i++ { // jobs 4 and 5 wait 8 ms, past the timeout
		if slices.Index(s.ran, jobs[i]) != i {
			t.Fatalf("static queue not FIFO: job %d started %dth", i, slices.Index(s.ran, jobs[i]))
		}
	}
	// The jobs that waited past the queue timeout were dropped, nothing
	// else was.
	for _, j := range s.dropped {
		if j.Outcome != DroppedStale || j.RetryAfter != 1 {
			t.Fatalf("dropped %v with Retry-After %d, want DroppedStale and 1", j.Outcome, j.RetryAfter)
		}
	}
	if len(s.dropped) == 0 {
		t.Fatal("nothing waited past the 7ms queue timeout at 3x capacity")
	}
	if s.refused[PredictedWait]+s.refused[Priority]+s.refused[Deadline] != 0 {
		t.Fatalf("static policy refused for adaptive reasons: %v", s.refused)
	}
}

func TestCloseAndAbort(t *testing.T) {
	s := newSim(t, adaptive())
	for range 5 {
		s.submit(&Job{Cost: job4ms, Urgency: 3})
	}
	s.c.Close()
	if r := s.submit(&Job{Cost: job4ms, Urgency: 0}); r != Shutdown {
		t.Fatalf("after Close: %v, want Shutdown", r)
	}
	s.advance(4 * time.Millisecond) // two more start
	s.c.Abort(s.now)
	if len(s.dropped) != 1 || s.dropped[0].Outcome != Shutdown {
		t.Fatalf("Abort dropped %d jobs, want the one still queued, with Shutdown", len(s.dropped))
	}
	s.advance(10 * time.Millisecond)
	if st := s.c.Stats(s.now); st.Running != 0 || st.Queued != 0 {
		t.Fatalf("after Abort and the running jobs' end: %+v", st)
	}
}

func TestEstimatesFollowTheMachine(t *testing.T) {
	s := newSim(t, adaptive())
	s.speed = 1.5
	s.offer(time.Second, 4*time.Millisecond, job4ms, 3)
	st := s.c.Stats(s.now)
	if st.Slowdown < 1.45 || st.Slowdown > 1.55 || st.JobWall < 5900*time.Microsecond || st.JobWall > 6100*time.Microsecond {
		t.Fatalf("jobs of 4 ms cost taking 6 ms: slowdown %.2f, job wall %v", st.Slowdown, st.JobWall)
	}
	// The target follows a job's wall time once it exceeds -queue-target.
	if st.Target != st.JobWall || st.Bound != 2*st.JobWall {
		t.Fatalf("target %v bound %v, want the job wall %v and twice it", st.Target, st.Bound, st.JobWall)
	}
}

func TestParse(t *testing.T) {
	for _, name := range []string{"adaptive", "static"} {
		if p, err := ParsePolicy(name); err != nil || p.String() != name {
			t.Errorf("ParsePolicy(%q) = %v, %v", name, p, err)
		}
	}
	for _, name := range []string{"adaptive", "fifo", "lifo"} {
		if o, err := ParseOrder(name); err != nil || o.String() != name {
			t.Errorf("ParseOrder(%q) = %v, %v", name, o, err)
		}
	}
	if _, err := ParsePolicy("codel"); err == nil {
		t.Error("ParsePolicy accepted codel")
	}
	if _, err := ParseOrder("random"); err == nil {
		t.Error("ParseOrder accepted random")
	}
	if got := len(Refusals()); got != 6 {
		t.Errorf("%d refusal reasons, want 6", got)
	}
}

func TestNewValidates(t *testing.T) {
	cfg := adaptive()
	cfg.Workers, cfg.Capacity, cfg.Target, cfg.MaxRetryAfter = 0, -1, 0, 0
	if _, err := New(cfg, time.Now()); err == nil {
		t.Fatal("New accepted a bad config")
	}
}

func TestDeadlinesJudgeRunTimeHigh(t *testing.T) {
	cfg := adaptive()
	cfg.Workers = 1
	s := newSim(t, cfg)
	// Jobs take 0.7 or 1.3 times their cost, in turn: the slowdown averages
	// 1 and deviates by 0.3; two deviations would make 1.6, capped at 1.5.
	for i := range 200 {
		s.speed = 0.7 + 0.6*float64(i%2)
		s.submit(&Job{Cost: job4ms, Urgency: 3})
		s.advance(10 * time.Millisecond)
	}
	if st := s.c.Stats(s.now); st.Slowdown < 0.9 || st.Slowdown > 1.1 {
		t.Fatalf("slowdown %.2f, want about 1", st.Slowdown)
	}
	if r := s.submit(&Job{Cost: job4ms, Urgency: 3, Deadline: s.now.Add(5600 * time.Microsecond)}); r != Deadline {
		t.Fatalf("budget of 1.4 costs: %v, want Deadline", r)
	}
	if r := s.submit(&Job{Cost: job4ms, Urgency: 3, Deadline: s.now.Add(6400 * time.Microsecond)}); r != Admitted {
		t.Fatalf("budget of 1.6 costs: %v, want admitted", r)
	}
}

func TestEstimatesThatRefuseEverythingRecover(t *testing.T) {
	s := newSim(t, adaptive())
	// The machine is three times slower for a while: jobs of 4 ms cost
	// take 12 ms, and a 10 ms budget cannot be met.
	s.speed = 3
	s.offer(time.Second, 20*time.Millisecond, job4ms, 3)
	s.speed = 1
	refused := 0
	for range 50 {
		if s.submit(&Job{Cost: job4ms, Urgency: 3, Deadline: s.now.Add(10 * time.Millisecond)}) == Deadline {
			refused++
		}
		s.advance(30 * time.Millisecond)
	}
	// Only deadline traffic, every job refused: nothing runs that could
	// tell the controller the machine is fast again, until a worker has
	// been idle for a second and lets one through.
	if refused < 30 || refused == 50 {
		t.Fatalf("%d of 50 refused; want the first second's refused, then recovery", refused)
	}
	if r := s.submit(&Job{Cost: job4ms, Urgency: 3, Deadline: s.now.Add(10 * time.Millisecond)}); r != Admitted {
		t.Fatalf("after recovery: %v, want admitted", r)
	}
}

func TestWaitsAreJudgedInTheJobsOwnSize(t *testing.T) {
	cfg := adaptive()
	cfg.Workers = 1
	s := newSim(t, cfg)
	long := 300 * time.Millisecond
	// Nothing has finished yet, so the moving averages know nothing: a
	// long job may still wait for one of its own size.
	s.submit(&Job{Cost: long, Urgency: 3})
	if r := s.submit(&Job{Cost: long, Urgency: 3}); r != Admitted {
		t.Fatalf("a 300 ms job behind another: %v, want admitted", r)
	}
	// A small job would wait 600 ms, far past an interval for its size.
	if r := s.submit(&Job{Cost: job4ms, Urgency: 3}); r != PredictedWait {
		t.Fatalf("a 4 ms job behind 600 ms of work: %v, want PredictedWait", r)
	}
}

func TestSaturated(t *testing.T) {
	cfg := adaptive()
	cfg.Capacity = 0
	s := newSim(t, cfg)
	if s.c.Saturated(s.now) {
		t.Fatal("idle workers: saturated")
	}
	s.submit(&Job{Cost: job4ms, Urgency: 3})
	if s.c.Saturated(s.now) {
		t.Fatal("one of two workers busy: saturated")
	}
	s.submit(&Job{Cost: job4ms, Urgency: 3})
	if !s.c.Saturated(s.now) {
		t.Fatal("both workers busy: not saturated")
	}
	if r := s.submit(&Job{Cost: job4ms, Urgency: 3}); r != QueueFull {
		t.Fatalf("no queue, both busy: %v", r)
	}
	// Work was refused: the workers are all the capacity there is, for a
	// second, even while one idles.
	s.advance(5 * time.Millisecond)
	if !s.c.Saturated(s.now) {
		t.Fatal("idle just after a refusal: not saturated")
	}
	s.advance(time.Second)
	if s.c.Saturated(s.now) {
		t.Fatal("idle a second after the last refusal: saturated")
	}
}
