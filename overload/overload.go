// Package overload decides which CPU jobs may wait for a bounded set of
// workers, in what order they run, and which are refused, so that under a
// sustained overload an admitted job waits about a target instead of a full
// queue.
//
// The Adaptive policy combines three published ideas:
//
//   - Standing-queue detection, as CoDel and folly's executors/Codel.cpp do
//     it: the queue counts as overloaded when, over a whole interval, the
//     oldest waiting job was never younger than the target. A burst that the
//     workers drain within the interval empties the queue at least once and
//     so is not an overload. The overloaded state ends only when the queue
//     has drained (a worker found it empty), so that the controller does
//     not switch off while it is the one keeping the queue short.
//   - Admission by predicted wait: while overloaded, a job whose predicted
//     wait (the estimated wall time of the jobs ahead of it, plus what is
//     left of the running ones, divided by the workers) exceeds the bound is
//     refused at once, so refusals are fast and nothing waits only to be
//     dropped. Before an overload is detected the bound is the interval: a
//     burst is absorbed as far as the workers drain it within one, and the
//     onset of an overload queues no more than that. For ten intervals
//     after an overload the overload's bound still holds, so that one that
//     pauses for a moment does not start over. A job that waited past twice the bound anyway (the estimate
//     was wrong) is dropped when a worker reaches it. Jobs admitted before
//     the overload began are spared while the queue runs oldest first:
//     they were promised no bound, they are next in line, and sparing them
//     is what lets a burst that drains a little slower than the interval
//     still be absorbed rather than cut off.
//   - Priorities (RFC 9218 urgency, 0 most urgent to 7) and client
//     deadlines: more urgent jobs run first and, when the queue is full,
//     displace the least urgent; less urgent ones get half the bound and so
//     are refused first; urgencies 0 and 1 are admitted while there is any
//     room. A job whose deadline cannot be met is refused at once, or dropped
//     once it can no longer finish in time. For deadlines a job's run
//     and wait are estimated high, as TCP bounds a round trip (RFC 6298):
//     at the moving average of the slowdown plus two mean deviations (at
//     most half the average again), so that what is admitted finishes in
//     time even when the machine is slow. Estimates learn only from jobs that run, so when
//     every worker has been idle for a second they do not refuse the next
//     job for its deadline: it runs and brings them news.
//
// Under Adaptive order the queue serves newest first while overloaded (the
// requests most likely still wanted) and oldest first otherwise.
//
// The Static policy is the plain bounded FIFO queue: refuse when it holds
// Capacity jobs, drop a job that waited past QueueTimeout, ignore urgency and
// deadlines. It is kept as the baseline the adaptive policy is measured
// against.
//
// A Controller holds no goroutines and reads no clock: every method takes
// the current time, so tests drive it with a fake one.
package overload

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Urgency levels of RFC 9218's Priority header.
const (
	// Levels is the number of urgency levels: 0 (most urgent) to 7.
	Levels = 8
	// DefaultUrgency is the urgency of a request without a Priority
	// header (RFC 9218, section 4.1).
	DefaultUrgency = 3
	// UrgentMax is the least urgent level that is admitted while the queue
	// has any room, whatever the predicted wait.
	UrgentMax = 1
)

// Parameters of the adaptive policy that are not flags. Each is explained
// where it is used.
const (
	// admitFactor × target is the admission bound while overloaded.
	admitFactor = 2
	// dropFactor × the admission bound is the wait past which a job is
	// dropped while overloaded: the prediction was wrong by that much.
	dropFactor = 2
	// intervalTargets is how many targets an interval lasts at least, so
	// that an interval always spans many jobs.
	intervalTargets = 10
	// memory is how many intervals after an overload the admission bound
	// of an overload still holds, as CoDel resumes dropping where it left
	// off when the queue comes back soon: an overload that pauses for a
	// moment does not start over with a queue of a whole interval.
	memory = 10
	// ewmaShift makes the moving averages weigh each new job 1/16.
	ewmaShift = 4
	// deviations is how many mean deviations of the slowdown a deadline's
	// pessimistic estimate adds to the average, at most maxPessimism of
	// it. RFC 6298 adds four to a round trip; here, measured, more than two
	// cut goodput under deadlines by half and more while the 200s' tail
	// barely moved: that tail is the trip to and from the client, which the
	// server does not see.
	deviations   = 2
	maxPessimism = 0.5
	waitWeight   = 2
	// probeAfter: when no job has finished for this long and every worker
	// is idle, a job starts whatever its deadline says, so that estimates
	// that refuse everything can still learn that the machine sped up.
	probeAfter = time.Second
	// slowdownMinCost: jobs cheaper than this say more about the hand-off
	// than about the machine's speed and do not move the slowdown.
	slowdownMinCost = 50 * time.Microsecond
	// retryWindow is how far back refused work counts towards Retry-After.
	retryWindow = time.Second
	// retryJitter spreads Retry-After over [1, 1+retryJitter) times its
	// value, so refused clients do not return in lockstep.
	retryJitter = 0.5
)

// Policy is how jobs are admitted and refused.
type Policy uint8

// The policies.
const (
	Adaptive Policy = iota // standing-queue detection, predicted-wait admission, priorities, deadlines
	Static                 // a bounded FIFO queue, refused when full
)

var policyNames = [...]string{Adaptive: "adaptive", Static: "static"}

// String returns the policy's -overload name.
func (p Policy) String() string { return policyNames[p] }

// ParsePolicy returns the policy named s: "adaptive" or "static".
func ParsePolicy(s string) (Policy, error) {
	for p, name := range policyNames {
		if s == name {
			return Policy(p), nil
		}
	}
	return 0, fmt.Errorf("overload policy %q: want adaptive or static", s)
}

// Order is the order in which waiting jobs of the same urgency run.
type Order uint8

// The orders.
const (
	OrderAdaptive Order = iota // newest first while overloaded, oldest first otherwise
	OrderFIFO                  // oldest first
	OrderLIFO                  // newest first
)

var orderNames = [...]string{OrderAdaptive: "adaptive", OrderFIFO: "fifo", OrderLIFO: "lifo"}

// String returns the order's -queue-order name.
func (o Order) String() string { return orderNames[o] }

// ParseOrder returns the order named s: "adaptive", "fifo" or "lifo".
func ParseOrder(s string) (Order, error) {
	for o, name := range orderNames {
		if s == name {
			return Order(o), nil
		}
	}
	return 0, fmt.Errorf("queue order %q: want adaptive, fifo or lifo", s)
}

// Reason is why a job did not run, or Admitted.
type Reason uint8

// The reasons. Refusals happen at Submit; DroppedStale, and Deadline,
// Priority and Shutdown for a job already queued, happen later.
const (
	Admitted      Reason = iota
	PredictedWait        // overloaded, and the predicted wait exceeds the bound
	QueueFull            // the queue holds Capacity jobs, none less urgent
	DroppedStale         // waited past QueueTimeout, or past the drop bound while overloaded
	Deadline             // cannot finish before the client's deadline
	Priority             // refused or displaced in favour of more urgent work
	Shutdown             // the pool is stopping
	numReasons
)

var reasonNames = [...]string{
	Admitted: "admitted", PredictedWait: "predicted_wait", QueueFull: "queue_full",
	DroppedStale: "dropped_stale", Deadline: "deadline", Priority: "priority", Shutdown: "shutdown",
}

// String is the reason's metric label value, e.g. "predicted_wait".
func (r Reason) String() string { return reasonNames[r] }

// Refusals lists every reason other than Admitted, in order.
func Refusals() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := Admitted + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Config sets up a Controller.
type Config struct {
	Policy Policy
	Order  Order
	// Workers is how many jobs run at once (> 0).
	Workers int
	// Capacity is the most jobs that may wait (>= 0), the hard bound under
	// any policy.
	Capacity int
	// Target is the queueing delay above which a queue that does not drain
	// is a standing queue. The controller uses the larger of Target and
	// the moving average of a job's wall time (and, when it admits a job,
	// that job's own estimated time): a queue of one job per worker is
	// what keeps the workers busy, not a standing queue.
	Target time.Duration
	// Interval is how long the queue must stand above the target before it
	// counts as overloaded; at least intervalTargets targets are used.
	Interval time.Duration
	// QueueTimeout, when positive, drops a job that waited longer than
	// this, under any policy.
	QueueTimeout time.Duration
	// MaxRetryAfter caps the Retry-After of refusals (>= 1 s).
	MaxRetryAfter time.Duration
	// Start starts a worker whose first job is j. It is called with the
	// controller's lock held and must neither block nor call the
	// controller.
	Start func(j *Job)
	// Drop answers a job that was admitted and leaves the queue without
	// running; j.Outcome says why. Called like Start.
	Drop func(j *Job)
	// Rand returns a number in [0, 1) for Retry-After's jitter; nil means
	// math/rand/v2's Float64.
	Rand func() float64
	// Changed, if set, is told when the queue becomes overloaded or stops
	// being so, and the state then. Called like Start.
	Changed func(Stats)
}

// Job is one job as the controller sees it.
type Job struct {
	// Urgency is RFC 9218's urgency, 0 (most urgent) to 7; values out of
	// range are clamped. Ignored by Static.
	Urgency int
	// Cost is the job's calibrated single-core CPU time.
	Cost time.Duration
	// Deadline is when the client stops waiting; zero for none. Ignored by
	// Static.
	Deadline time.Time
	// Payload is the caller's own value, carried through the queue.
	Payload any

	// Set by the controller.
	Outcome    Reason    // why the job did not run, or Admitted
	RetryAfter int       // seconds, for a job that did not run
	Queued     time.Time // when it was submitted
	Started    time.Time // when a worker took it; zero until then

	est time.Duration // estimated wall time when it started
}

// Ran reports a finished job to Next.
type Ran struct {
	started  time.Time // as the controller recorded it
	est      time.Duration
	cost     time.Duration
	wall     time.Duration
	finished time.Time
}

// Ran describes j, which ran from started to finished, for Next. Call it
// before handing j back to its submitter, which may reuse it.
func (j *Job) Ran(started, finished time.Time) Ran {
	return Ran{started: j.Started, est: j.est, cost: j.Cost, wall: finished.Sub(started), finished: finished}
}

// Stats is the controller's state at one moment.
type Stats struct {
	Overloaded bool
	// Episodes counts the times the queue became overloaded;
	// OverloadedFor is the time it spent overloaded, the current episode
	// included.
	Episodes      uint64
	OverloadedFor time.Duration
	// Target and Bound are the effective standing-queue target and the
	// admission bound for urgency 2 and 3 while overloaded.
	Target, Bound time.Duration
	// JobWall is the moving average of a job's wall time; Slowdown is the
	// moving average of wall time over calibrated cost.
	JobWall  time.Duration
	Slowdown float64
	// LIFO reports whether the queue serves newest first now.
	LIFO            bool
	Queued, Running int
}

// Controller is the queue in front of the workers and its policy. Its
// methods are safe for concurrent use.
type Controller struct {
	cfg  Config
	rand func() float64

	// Mirrors of queued and running, and when a job was last refused (in
	// Unix nanoseconds), for readers that must not lock.
	queuedNow, runningNow, lastRefused atomic.Int64

	mu        sync.Mutex
	levels    [Levels]deque
	nonEmpty  uint8                 // bit l set when levels[l] holds jobs
	levelCost [Levels]time.Duration // summed Cost of each level's jobs
	queued    int                   // jobs in levels
	running   int                   // workers with a job
	// ends holds, for every running job, when it should end by the
	// estimates: its start plus its estimated wall time.
	ends    []time.Time
	closed  bool
	aborted bool

	slowdown   float64       // moving average of wall time / cost
	spread     float64       // moving mean deviation of wall time / cost
	wall       time.Duration // moving average of wall time
	lastFinish time.Time     // when the estimates last heard of a job

	overloaded  bool
	since       time.Time // start of the current episode
	over        time.Time // end of the last episode
	episodes    uint64
	overFor     time.Duration // closed episodes
	intervalEnd time.Time
	minDelay    time.Duration // least oldest-job age seen this interval
	samples     int

	refused     [2]float64 // estimated ns of refused work: this window, the last
	windowStart time.Time
}

// New returns a controller whose clock starts at now.
func New(cfg Config, now time.Time) (*Controller, error) {
	var errs []error
	if cfg.Workers < 1 {
		errs = append(errs, fmt.Errorf("%d workers, need at least 1", cfg.Workers))
	}
	if cfg.Capacity < 0 {
		errs = append(errs, fmt.Errorf("queue capacity %d, need 0 or more", cfg.Capacity))
	}
	if cfg.Policy > Static || cfg.Order > OrderLIFO {
		errs = append(errs, fmt.Errorf("unknown policy %d or order %d", cfg.Policy, cfg.Order))
	}
	if cfg.Policy == Adaptive && (cfg.Target <= 0 || cfg.Interval <= 0) {
		errs = append(errs, fmt.Errorf("queue target %v and interval %v must be positive", cfg.Target, cfg.Interval))
	}
	if cfg.QueueTimeout < 0 {
		errs = append(errs, fmt.Errorf("queue timeout %v must not be negative", cfg.QueueTimeout))
	}
	if cfg.MaxRetryAfter < time.Second {
		errs = append(errs, fmt.Errorf("max Retry-After %v must be at least 1s", cfg.MaxRetryAfter))
	}
	if cfg.Start == nil || cfg.Drop == nil {
		errs = append(errs, errors.New("the Start and Drop callbacks must be set"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("overload controller: %w", err)
	}
	c := &Controller{
		cfg: cfg, rand: cfg.Rand, ends: make([]time.Time, 0, cfg.Workers),
		slowdown: 1, minDelay: math.MaxInt64, windowStart: now, lastFinish: now,
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	c.intervalEnd = now.Add(c.interval(0))
	return c, nil
}

// Submit offers j, arriving at now. It returns Admitted when j runs now (on
// a worker started with Config.Start) or waits in the queue, and otherwise
// the reason it was refused, with j.RetryAfter set. A queued job either
// runs, handed to a worker by Next, or is answered through Config.Drop.
func (c *Controller) Submit(j *Job, now time.Time) Reason {
	j.Queued, j.Started, j.Outcome, j.RetryAfter = now, time.Time{}, Admitted, 0
	if c.cfg.Policy == Static {
		j.Urgency, j.Deadline = DefaultUrgency, time.Time{}
	} else {
		j.Urgency = min(max(j.Urgency, 0), Levels-1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick(now)
	if r := c.admit(j, now); r != Admitted {
		c.refuse(j, r, now)
		return r
	}
	return Admitted
}

func (c *Controller) admit(j *Job, now time.Time) Reason {
	if c.closed {
		return Shutdown
	}
	adaptive := c.cfg.Policy == Adaptive
	if c.running < c.cfg.Workers {
		// A worker is free, so nothing waits: the job starts now, unless
		// it would miss its deadline by the estimates. Estimates that have
		// heard of no job for a while are not trusted to refuse.
		outdated := c.running == 0 && now.Sub(c.lastFinish) > probeAfter
		if adaptive && c.late(j, now, 0) && !outdated {
			return Deadline
		}
		c.start(j, now)
		c.cfg.Start(j)
		return Admitted
	}
	if adaptive {
		c.expire(now)
		wait := c.predictedWait(j.Urgency, now)
		// The client's own deadline first: it is the most telling reason.
		if c.late(j, now, wait) {
			return Deadline
		}
		switch {
		case j.Urgency <= UrgentMax:
		case c.overloaded || now.Sub(c.over) < memory*c.interval(0):
			if r := c.overBound(j, wait); r != Admitted {
				return r
			}
		case wait > c.interval(c.estimate(j.Cost)):
			// Even before an overload is detected, a job that would wait
			// longer than an interval is no part of a burst the workers
			// drain within it: it is refused now rather than served late.
			return PredictedWait
		}
		if c.cfg.QueueTimeout > 0 && wait > c.cfg.QueueTimeout {
			return PredictedWait
		}
	}
	if c.queued >= c.cfg.Capacity && !(adaptive && c.evictFor(j, now)) {
		return QueueFull
	}
	c.enqueue(j)
	return Admitted
}

// overBound applies the admission bound while overloaded: the whole bound
// for the default urgency and above, half of it for less urgent work,
// which is so refused first.
func (c *Controller) overBound(j *Job, wait time.Duration) Reason {
	bound := c.bound(c.estimate(j.Cost))
	switch {
	case wait > bound:
		return PredictedWait
	case j.Urgency > DefaultUrgency && wait > bound/2:
		return Priority
	}
	return Admitted
}

// late reports whether j, starting after wait, may finish after its
// deadline: it judges by the pessimistic run time.
func (c *Controller) late(j *Job, now time.Time, wait time.Duration) bool {
	if j.Deadline.IsZero() {
		return false
	}
	// The wait was predicted at the average slowdown; both it and the run
	// are stretched to the pessimistic one, and the wait, the sum of
	// several jobs' remaining times and the least certain part, counts
	// waitWeight times: measured under 3× overload with 3 W budgets, that
	// cut the 200s that arrived late by nine tenths at the same goodput.
	high := 1 + min(deviations*c.spread/c.slowdown, maxPessimism)
	total := time.Duration((waitWeight*float64(wait) + float64(c.estimate(j.Cost))) * high)
	return now.Add(total).After(j.Deadline)
}

// hopeless reports whether j, starting now, would finish after its
// deadline even at the average pace. A queued job has been promised a run
// and has waited for it: only this drops it.
func (c *Controller) hopeless(j *Job, now time.Time) bool {
	return !j.Deadline.IsZero() && now.Add(c.estimate(j.Cost)).After(j.Deadline)
}

// evictFor makes room for j by dropping the newest job of the least urgent
// level, if that level is less urgent than j.
func (c *Controller) evictFor(j *Job, now time.Time) bool {
	if c.nonEmpty == 0 {
		return false
	}
	least := bits.Len8(c.nonEmpty) - 1
	if least <= j.Urgency {
		return false
	}
	c.drop(c.remove(least, true), Priority, now)
	return true
}

// Next reports the job a worker finished and gives it its next job, or nil
// when there is none: the worker then stops. Jobs found stale on the way
// are answered through Config.Drop.
func (c *Controller) Next(done Ran) *Job {
	now := done.finished
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finish(done)
	c.tick(now)
	if c.cfg.Policy == Adaptive || c.aborted {
		c.expire(now)
	}
	for c.queued > 0 {
		c.sample(c.oldestAge(now))
		j := c.remove(bits.TrailingZeros8(c.nonEmpty), c.lifo())
		if r := c.stale(j, now); r != Admitted {
			c.drop(j, r, now)
			continue
		}
		c.start(j, now)
		return j
	}
	c.sample(0) // a worker found nothing to do: the queue has drained
	return nil
}

// stale returns why j should no longer run, or Admitted.
func (c *Controller) stale(j *Job, now time.Time) Reason {
	wait := now.Sub(j.Queued)
	switch {
	case c.aborted:
		return Shutdown
	case c.cfg.QueueTimeout > 0 && wait > c.cfg.QueueTimeout:
		return DroppedStale
	case c.cfg.Policy == Static:
		return Admitted
	case c.overloaded && j.Urgency > UrgentMax && wait > dropFactor*c.bound(c.estimate(j.Cost)) && (c.lifo() || !j.Queued.Before(c.since)):
		return DroppedStale
	case c.hopeless(j, now):
		return Deadline
	}
	return Admitted
}

// expire drops the jobs at the front (the oldest) of every level that
// should no longer run. In newest-first order, and for the less urgent
// levels, the front is not what a worker takes next, yet its client is
// waiting for an answer.
func (c *Controller) expire(now time.Time) {
	for set := c.nonEmpty; set != 0; set &= set - 1 {
		l := bits.TrailingZeros8(set)
		for c.levels[l].len() > 0 {
			r := c.stale(c.levels[l].front(), now)
			if r == Admitted {
				break
			}
			c.drop(c.remove(l, false), r, now)
		}
	}
}

// Close makes Submit refuse every job with Shutdown. Queued and running
// jobs still run.
func (c *Controller) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
}

// Abort closes the controller and drops every queued job with Shutdown.
// Running jobs finish.
func (c *Controller) Abort(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed, c.aborted = true, true
	c.expire(now)
}

// Queued is the number of waiting jobs. It does not lock.
func (c *Controller) Queued() int { return int(c.queuedNow.Load()) }

// Running is the number of running jobs. It does not lock.
func (c *Controller) Running() int { return int(c.runningNow.Load()) }

// Saturated reports whether the workers are all the capacity there is:
// every one of them is busy, or a job was refused within the last second.
// It does not lock.
func (c *Controller) Saturated(now time.Time) bool {
	return c.Running() >= c.cfg.Workers || now.UnixNano()-c.lastRefused.Load() < int64(retryWindow)
}

// Full reports whether a job submitted now would find the queue full: the
// Static policy's notion of not being ready. It does not lock.
func (c *Controller) Full() bool {
	if c.cfg.Capacity == 0 {
		return c.Running() >= c.cfg.Workers
	}
	return c.Queued() >= c.cfg.Capacity
}

// Stats returns the state at now.
func (c *Controller) Stats(now time.Time) Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick(now)
	return c.stats(now)
}

func (c *Controller) stats(now time.Time) Stats {
	s := Stats{
		Overloaded: c.overloaded, Episodes: c.episodes, OverloadedFor: c.overFor,
		Target: c.target(0), Bound: c.bound(0), JobWall: c.wall, Slowdown: c.slowdown,
		LIFO: c.lifo(), Queued: c.queued, Running: c.running,
	}
	if c.overloaded {
		s.OverloadedFor += now.Sub(c.since)
	}
	return s
}

// target is the effective standing-queue target, for a job that is
// estimated to run for own (0 for none): a wait of one job of its own size
// per worker is never a standing queue.
func (c *Controller) target(own time.Duration) time.Duration { return max(c.cfg.Target, c.wall, own) }

// interval is the effective interval of standing-queue detection.
func (c *Controller) interval(own time.Duration) time.Duration {
	return max(c.cfg.Interval, intervalTargets*c.target(own))
}

// bound is the admission bound while overloaded.
func (c *Controller) bound(own time.Duration) time.Duration { return admitFactor * c.target(own) }

func (c *Controller) lifo() bool {
	return c.cfg.Order == OrderLIFO || c.cfg.Order == OrderAdaptive && c.overloaded && c.cfg.Policy == Adaptive
}

// tick closes the detection interval if it has ended: the queue becomes
// overloaded when its oldest job never got younger than the target, and
// stops being overloaded once it has drained.
func (c *Controller) tick(now time.Time) {
	if c.cfg.Policy != Adaptive || now.Before(c.intervalEnd) {
		return
	}
	c.closeInterval(now)
}

// closeInterval is tick's work once an interval has ended, apart so that
// tick's own frame, paid on every call, stays small.
func (c *Controller) closeInterval(now time.Time) {
	if c.samples == 0 {
		// No worker took a job all interval: judge the queue as it is.
		c.minDelay = c.oldestAge(now)
	}
	// When events are sparse the interval is judged late; the change
	// happened when it ended.
	at := c.intervalEnd
	changed := true
	switch {
	case !c.overloaded && c.minDelay > c.target(0):
		c.overloaded, c.since = true, at
		c.episodes++
	case c.overloaded && c.minDelay == 0:
		c.overloaded, c.over = false, at
		c.overFor += at.Sub(c.since)
	default:
		changed = false
	}
	c.minDelay, c.samples = math.MaxInt64, 0
	c.intervalEnd = now.Add(c.interval(0))
	if changed && c.cfg.Changed != nil {
		c.cfg.Changed(c.stats(at))
	}
}

func (c *Controller) sample(age time.Duration) {
	c.minDelay = min(c.minDelay, age)
	c.samples++
}

// oldestAge is how long the oldest waiting job has waited; 0 when none
// waits.
func (c *Controller) oldestAge(now time.Time) time.Duration {
	var oldest time.Duration
	for set := c.nonEmpty; set != 0; set &= set - 1 {
		oldest = max(oldest, now.Sub(c.levels[bits.TrailingZeros8(set)].front().Queued))
	}
	return oldest
}

// predictedWait is how long a job of urgency u submitted now would wait
// for a worker: the estimated wall time of the jobs of the same or higher
// urgency already waiting, plus what is left of the running ones, shared
// among the workers. In newest-first order the job may start sooner, but
// the bound is on the backlog either way.
func (c *Controller) predictedWait(u int, now time.Time) time.Duration {
	if c.running < c.cfg.Workers {
		return 0
	}
	var ahead time.Duration
	for l := 0; l <= u; l++ {
		ahead += c.levelCost[l]
	}
	work := float64(ahead)*c.slowdown + float64(c.residual(now))
	return time.Duration(work / float64(c.cfg.Workers))
}

// residual estimates the wall time the running jobs still need.
// A job that overran its estimate counts as about to end.
func (c *Controller) residual(now time.Time) time.Duration {
	var left time.Duration
	for _, end := range c.ends {
		left += max(0, end.Sub(now))
	}
	return left
}

func (c *Controller) estimate(cost time.Duration) time.Duration {
	return time.Duration(float64(cost) * c.slowdown)
}

func (c *Controller) start(j *Job, now time.Time) {
	j.Started, j.est = now, c.estimate(j.Cost)
	c.running++
	c.runningNow.Store(int64(c.running))
	c.ends = append(c.ends, now.Add(j.est))
}

// finish takes a finished job off the running ones and feeds its wall time
// to the estimates. After a second without news the estimates start over
// from this job: what the machine did a while ago says little about now.
func (c *Controller) finish(r Ran) {
	c.running--
	c.runningNow.Store(int64(c.running))
	end := r.started.Add(r.est)
	for i, e := range c.ends {
		if e.Equal(end) {
			c.ends[i] = c.ends[len(c.ends)-1]
			c.ends = c.ends[:len(c.ends)-1]
			break
		}
	}
	restart := c.wall == 0 || r.finished.Sub(c.lastFinish) > probeAfter
	c.lastFinish = r.finished
	ratio := float64(r.wall) / float64(max(r.cost, 1))
	switch {
	case restart:
		c.wall = r.wall
		if r.cost >= slowdownMinCost {
			c.slowdown, c.spread = ratio, 0
		}
	default:
		c.wall += (r.wall - c.wall) >> ewmaShift
		if r.cost >= slowdownMinCost {
			diff := ratio - c.slowdown
			c.slowdown += diff / (1 << ewmaShift)
			c.spread += (math.Abs(diff) - c.spread) / (1 << ewmaShift)
		}
	}
}

func (c *Controller) enqueue(j *Job) {
	c.levels[j.Urgency].pushBack(j)
	c.nonEmpty |= 1 << j.Urgency
	c.levelCost[j.Urgency] += j.Cost
	c.queued++
	c.queuedNow.Store(int64(c.queued))
}

// remove takes the newest (back) or oldest (front) job of level l.
func (c *Controller) remove(l int, newest bool) *Job {
	d := &c.levels[l]
	var j *Job
	if newest {
		j = d.popBack()
	} else {
		j = d.popFront()
	}
	if d.len() == 0 {
		c.nonEmpty &^= 1 << l
	}
	c.levelCost[l] -= j.Cost
	c.queued--
	c.queuedNow.Store(int64(c.queued))
	return j
}

// drop answers a queued job that will not run.
func (c *Controller) drop(j *Job, r Reason, now time.Time) {
	c.refuse(j, r, now)
	c.cfg.Drop(j)
}

// refuse records that j did not run, and why.
func (c *Controller) refuse(j *Job, r Reason, now time.Time) {
	j.Outcome = r
	c.lastRefused.Store(now.UnixNano())
	c.roll(now)
	if r != Shutdown {
		c.refused[0] += float64(c.estimate(j.Cost))
	}
	j.RetryAfter = c.retryAfter(now)
}

// roll moves the refused-work window forward to now.
func (c *Controller) roll(now time.Time) {
	switch elapsed := now.Sub(c.windowStart); {
	case elapsed >= 2*retryWindow:
		c.refused = [2]float64{}
		c.windowStart = now
	case elapsed >= retryWindow:
		c.refused = [2]float64{0, c.refused[0]}
		c.windowStart = c.windowStart.Add(retryWindow)
	}
}

// retryAfter is the Retry-After, in seconds, of a job refused now: the
// time the workers would need for the work waiting now plus the work
// refused over the last second, had it been admitted, with jitter, between
// 1 and MaxRetryAfter. At twice the capacity it says about 1-2 s, at four
// times 3-5 s: the longer the excess, the further apart refused clients
// come back. The Static policy always says 1, as offload always did.
func (c *Controller) retryAfter(now time.Time) int {
	if c.cfg.Policy == Static {
		return 1
	}
	var queued time.Duration
	for _, w := range c.levelCost {
		queued += w
	}
	frac := float64(now.Sub(c.windowStart)) / float64(retryWindow)
	refused := c.refused[0] + c.refused[1]*max(0, 1-frac)
	work := float64(queued)*c.slowdown + float64(c.residual(now)) + refused
	secs := work / float64(c.cfg.Workers) / float64(time.Second) * (1 + retryJitter*c.rand())
	return int(min(max(1, math.Ceil(secs)), math.Ceil(c.cfg.MaxRetryAfter.Seconds())))
}
