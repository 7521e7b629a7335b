package experiment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"offload/config"
	"offload/loadtest"
	"offload/loadtest/observe"
	"offload/metrics"
	"offload/overload"
)

// OverloadResult is the outcome of the experiment.
type OverloadResult struct {
	Machine  observe.Machine `json:"machine"`
	Procs    int             `json:"procs"`
	Work     time.Duration   `json:"work"`
	Started  time.Time       `json:"started"`
	Took     float64         `json:"took_s"`
	Baseline Baseline        `json:"baseline"`
	Phases   []Phase         `json:"phases"`
	Runs     []PolicyRun     `json:"runs"`
}

// PolicyRun is every phase against one policy's server.
type PolicyRun struct {
	Policy   OverloadPolicy `json:"policy"`
	Phases   []PhaseResult  `json:"phases"`
	Timeline []Bucket       `json:"timeline"`
	// HealthzP99 is over every health check of the run, HealthzN of them.
	HealthzP99 float64 `json:"healthz_p99_ms"`
	HealthzN   int     `json:"healthz_probes"`
}

// PhaseResult is what one phase measured after it settled.
type PhaseResult struct {
	Name string `json:"name"`
	// Offered and Goodput are bulk requests sent and answered 200 per
	// second; GoodputRatio is Goodput over the capacity of the phase's
	// jobs, and Refused the share of bulk requests answered 503.
	Offered      float64          `json:"offered_rps"`
	Goodput      float64          `json:"goodput_rps"`
	GoodputRatio float64          `json:"goodput_ratio"`
	Refused      float64          `json:"refused_share"`
	OK           loadtest.Latency `json:"latency_200_ms"`
	Busy         loadtest.Latency `json:"latency_503_ms"`
	// Failed counts bulk requests answered neither 200 nor 503.
	Failed int64 `json:"failed"`
	// W is the single-request latency of the phase's jobs, in ms.
	W float64 `json:"w_ms"`
	// Urgent is the "Priority: u=0" traffic, when the phase had some.
	Urgent *UrgentResult `json:"urgent,omitempty"`
	// BudgetMs is each request's deadline, when the phase set one;
	// LateOK counts 200s that arrived after it, ServerLate those the
	// server itself answered after it (offload_deadline_missed_total).
	BudgetMs   float64 `json:"budget_ms,omitempty"`
	LateOK     int64   `json:"late_200,omitempty"`
	ServerLate float64 `json:"server_late_200,omitempty"`
	// Health checks, and the server's own view, over the same window.
	HealthzP99      float64 `json:"healthz_p99_ms"`
	HealthzN        int64   `json:"healthz_probes"`
	HealthzFailed   int64   `json:"healthz_failed"`
	OverloadedShare float64 `json:"overloaded_share"`
	UnreadyShare    float64 `json:"unready_share"`
	MaxQueued       float64 `json:"max_queued"`
	// The cores used by the server, the load generator and the rest of
	// the machine, and the server's CPU per completed job in ms, in the
	// jobs (by their threads' clocks) and outside them.
	ServerCores    float64 `json:"server_cores"`
	GeneratorCores float64 `json:"generator_cores"`
	OtherCores     float64 `json:"other_cores"`
	JobCPUMs       float64 `json:"job_cpu_ms"`
	OutsideCPUMs   float64 `json:"outside_cpu_ms"`
}

// UrgentResult is the urgent traffic of a phase.
type UrgentResult struct {
	Sent    int64   `json:"sent"`
	OK      int64   `json:"ok"`
	OKShare float64 `json:"ok_share"`
	Goodput float64 `json:"goodput_rps"`
	P99     float64 `json:"p99_200_ms"`
}

// Bucket is a quarter second of a policy's run.
type Bucket struct {
	T          float64  `json:"t"` // seconds since the policy's server started serving load
	Offered    float64  `json:"offered_rps"`
	Goodput    float64  `json:"goodput_rps"`
	P50        *float64 `json:"p50_200_ms,omitempty"`
	P99        *float64 `json:"p99_200_ms,omitempty"`
	BusyP99    *float64 `json:"p99_503_ms,omitempty"`
	Overloaded *float64 `json:"overloaded,omitempty"`
	Queued     *float64 `json:"queued,omitempty"`
}

// Overload runs the experiment.
func Overload(ctx context.Context, c OverloadConfig) (*OverloadResult, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := observe.CheckBinary(c.Server); err != nil {
		return nil, err
	}
	res := &OverloadResult{Machine: observe.Describe(ctx), Procs: c.Procs, Work: c.Work, Started: time.Now(), Phases: c.scaledPhases()}
	calibrate := config.Default()
	calibrate.WorkIterationNs = c.WorkIterationNs
	settings, err := observe.Calibrated(ctx, observe.Config{Binary: c.Server, Server: calibrate, Procs: c.Procs})
	if err != nil {
		return nil, err
	}
	c.WorkIterationNs = settings.WorkIterationNs
	progressf(c.Progress, "overload: measuring capacity and single-request latency at -work %v and %v", c.Work, 2*c.Work)
	if res.Baseline, err = c.baseline(ctx); err != nil {
		return nil, err
	}
	res.Baseline.IterationNs = c.WorkIterationNs
	progressf(c.Progress, "overload: capacity %.0f/s, W %.2f ms; doubled work: %.0f/s, %.2f ms",
		res.Baseline.Capacity, res.Baseline.W, res.Baseline.CapacityDoubled, res.Baseline.WDoubled)
	for _, p := range c.Policies {
		run, err := c.runPolicy(ctx, p, res.Baseline, res.Phases)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Name, err)
		}
		res.Runs = append(res.Runs, run)
	}
	res.Took = time.Since(res.Started).Seconds()
	return res, nil
}

// scaledPhases are the phases with every length times Scale.
func (c *OverloadConfig) scaledPhases() []Phase {
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * c.Scale) }
	out := slices.Clone(c.Phases)
	for i, p := range out {
		out[i].Length, out[i].Settle, out[i].BurstEvery = scale(p.Length), scale(p.Settle), scale(p.BurstEvery)
	}
	return out
}

// withServer runs f against a fresh server for policy p: see
// observe.WithServer.
func (c *OverloadConfig) withServer(ctx context.Context, p OverloadPolicy, f func(*observe.Server) error) error {
	s := config.Default()
	s.Work, s.WorkIterationNs = c.Work, c.WorkIterationNs
	return observe.WithServer(ctx, observe.Config{Binary: c.Server, Procs: c.Procs, Server: p.settings(s)}, f)
}

// baseline measures capacity (a closed loop of 32 on the static queue,
// which refuses none) and W (the median of one request at a time) for both
// job sizes.
func (c *OverloadConfig) baseline(ctx context.Context) (b Baseline, err error) {
	window := max(time.Second, time.Duration(3*c.Scale*float64(time.Second)))
	err = c.withServer(ctx, OverloadPolicy{Overload: overload.Static.String()}, func(srv *observe.Server) error {
		for _, w := range []struct {
			work          time.Duration
			capacity, lat *float64
		}{{c.Work, &b.Capacity, &b.W}, {2 * c.Work, &b.CapacityDoubled, &b.WDoubled}} {
			url := srv.URL("/data?work=" + w.work.String())
			sat, err := loadtest.Run(ctx, loadtest.Config{URL: url, Connections: 32, Warmup: window / 3, Duration: window})
			if err != nil {
				return err
			}
			one, err := loadtest.Run(ctx, loadtest.Config{URL: url, Connections: 1, Warmup: window / 6, Duration: window / 2})
			if err != nil {
				return err
			}
			if sat.Goodput <= 0 || one.Goodput <= 0 {
				return fmt.Errorf("no request to %s succeeded: %+v", url, sat.Outcomes)
			}
			*w.capacity, *w.lat = sat.Goodput, one.Latency.P50
		}
		return nil
	})
	return b, err
}

// runPolicy runs every phase back to back against a server for the
// policy, with health checks and a sampler of its state throughout.
func (c *OverloadConfig) runPolicy(ctx context.Context, p OverloadPolicy, b Baseline, phases []Phase) (PolicyRun, error) {
	run := PolicyRun{Policy: p}
	err := c.withServer(ctx, p, func(srv *observe.Server) error {
		var total time.Duration
		for _, ph := range phases {
			total += ph.Length
		}
		begin := time.Now()
		probeCtx, stopProbes := context.WithCancel(ctx)
		defer stopProbes()
		waitProbe := StartLoad(probeCtx, loadtest.Config{
			URL: srv.URL("/healthz"), Rates: []float64{100}, Duration: total + time.Minute,
			Timeout: 5 * time.Second, Record: true,
		})
		var states []stateSample
		var sampling sync.WaitGroup
		sampling.Go(func() { states = sampleState(probeCtx, srv, begin, 250*time.Millisecond) })

		// Each phase starts on schedule, while the last one's requests are
		// still in flight: a gap would let the queue drain.
		loads := make([]phaseLoad, len(phases))
		errs := make([]error, len(phases))
		var phaseWG sync.WaitGroup
		var at time.Duration
		for i, ph := range phases {
			if !sleepUntil(ctx, begin.Add(at)) {
				break
			}
			progressf(c.Progress, "overload: %s: phase %s for %v", p.Name, ph.Name, ph.Length.Round(time.Millisecond))
			phaseWG.Go(func() {
				loads[i], errs[i] = runPhase(ctx, srv, ph, b, c.Work, time.Since(begin))
				if errs[i] != nil {
					errs[i] = fmt.Errorf("phase %s: %w", ph.Name, errs[i])
				}
			})
			at += ph.Length
		}
		phaseWG.Wait()
		stopProbes()
		probe, probeErr := waitProbe()
		sampling.Wait()
		if err := errors.Join(append(errs, probeErr, ctx.Err())...); err != nil {
			return err
		}
		for _, l := range loads {
			run.Phases = append(run.Phases, l.result(probe.Records, states))
		}
		run.Timeline = timeline(loads, states, 250*time.Millisecond)
		healthz, _ := okLatencies(probe.Records, 0, math.MaxInt64)
		run.HealthzP99, run.HealthzN = quantileMs(healthz, 0.99), len(probe.Records)
		return nil
	})
	return run, err
}

// sleepUntil waits until t, and reports false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// okLatencies are the latencies of the records sent in [from, to) that
// got 200; failed counts the others.
func okLatencies(recs []loadtest.Record, from, to time.Duration) (lat []time.Duration, failed int64) {
	for _, r := range recs {
		switch {
		case r.At < from || r.At >= to:
		case r.Status == 200:
			lat = append(lat, r.Latency)
		default:
			failed++
		}
	}
	return lat, failed
}

// phaseLoad is what a phase sent and got back.
type phaseLoad struct {
	phase         Phase
	offset        time.Duration // from the start of the policy's run
	bulk, urgent  *loadtest.Result
	w, capacity   float64
	budget        time.Duration
	offeredPerSec float64
}

// runPhase sends the phase's load, offset into the run, and waits for it.
func runPhase(ctx context.Context, srv *observe.Server, ph Phase, b Baseline, work time.Duration, offset time.Duration) (phaseLoad, error) {
	l := phaseLoad{phase: ph, offset: offset, w: b.W, capacity: b.Capacity}
	url := srv.URL("/data")
	if ph.Doubled {
		url = srv.URL("/data?work=" + (2 * work).String())
		l.w, l.capacity = b.WDoubled, b.CapacityDoubled
	}
	bulk := loadtest.Config{
		URL: url, Rates: []float64{ph.Rate * b.Capacity}, MaxInflight: 20000, Warmup: ph.Settle, Duration: ph.Length - ph.Settle,
		Timeout: 10 * time.Second, Burst: loadtest.Burst{Size: ph.Burst, Every: ph.BurstEvery}, Record: true,
	}
	if ph.Budget > 0 {
		l.budget = time.Duration(ph.Budget * l.w * float64(time.Millisecond))
		bulk.Header = map[string]string{"X-Request-Timeout": l.budget.String()}
	}
	l.offeredPerSec = bulk.Rates[0]
	if ph.Burst > 0 {
		l.offeredPerSec += float64(ph.Burst) / ph.BurstEvery.Seconds()
	}
	waitUrgent := func() (*loadtest.Result, error) { return nil, nil }
	if ph.Urgent > 0 {
		waitUrgent = StartLoad(ctx, loadtest.Config{
			URL: url, Header: map[string]string{"Priority": "u=0"}, Rates: []float64{ph.Urgent * b.Capacity},
			Warmup: ph.Settle, Duration: ph.Length - ph.Settle, Timeout: 10 * time.Second, Record: true,
		})
	}
	var err, urgentErr error
	l.bulk, err = loadtest.Run(ctx, bulk)
	l.urgent, urgentErr = waitUrgent()
	return l, errors.Join(err, urgentErr)
}

// result summarises the measured part of the phase, with the probes and
// samples that fall into it.
func (l phaseLoad) result(probes []loadtest.Record, states []stateSample) PhaseResult {
	r := PhaseResult{Name: l.phase.Name, W: l.w, Offered: l.offeredPerSec, OK: l.bulk.LatencyByStatus[200], Busy: l.bulk.LatencyByStatus[503]}
	r.Goodput = l.bulk.Goodput
	r.GoodputRatio = r.Goodput / l.capacity
	o := l.bulk.Outcomes
	if answered := l.bulk.Answered + o.Errors(); answered > 0 {
		r.Refused = float64(o.Status[503]) / float64(answered)
	}
	r.Failed = l.bulk.Requests + o.Missed - o.Status[200] - o.Status[503]
	if l.budget > 0 {
		r.BudgetMs = float64(l.budget) / float64(time.Millisecond)
		for _, rec := range l.bulk.Records {
			if rec.At >= l.phase.Settle && rec.Status == 200 && rec.Latency > l.budget {
				r.LateOK++
			}
		}
	}
	if u := l.urgent; u != nil {
		r.Urgent = &UrgentResult{Sent: u.Requests + u.Outcomes.Missed, OK: u.Outcomes.Status[200], Goodput: u.Goodput, P99: u.LatencyByStatus[200].P99}
		if r.Urgent.Sent > 0 {
			r.Urgent.OKShare = float64(r.Urgent.OK) / float64(r.Urgent.Sent)
		}
	}
	from, to := l.offset+l.phase.Settle, l.offset+l.phase.Length
	healthz, failed := okLatencies(probes, from, to)
	r.HealthzFailed = failed
	r.HealthzN = int64(len(healthz)) + r.HealthzFailed
	r.HealthzP99 = quantileMs(healthz, 0.99)
	var n, over, unready int
	var first, last observe.Snapshot
	// The deadline-miss counter before the phase settled and after it.
	var missedBefore, missedAfter float64
	after := false
	for i, s := range states {
		if s.at < from {
			missedBefore = s.gauge(metrics.DeadlineMissed)
		}
		if !after && (s.at >= to || i == len(states)-1) {
			missedAfter, after = s.gauge(metrics.DeadlineMissed), true
		}
		if s.at < from || s.at >= to {
			continue
		}
		if n++; n == 1 {
			first = s.snap
		}
		last = s.snap
		if s.gauge(metrics.OverloadActive) == 1 {
			over++
		}
		if s.unready {
			unready++
		}
		r.MaxQueued = max(r.MaxQueued, s.gauge(metrics.JobsQueued))
	}
	if n > 0 {
		r.OverloadedShare, r.UnreadyShare = float64(over)/float64(n), float64(unready)/float64(n)
		d := last.Since(first)
		r.ServerCores, r.GeneratorCores, r.OtherCores = d.Cores(d.ServerCPU), d.Cores(d.GeneratorCPU), d.Cores(d.OtherCPU)
		if done := d.Counter(metrics.JobsCompleted); done > 0 {
			r.JobCPUMs = d.Counter(metrics.JobsCPU) / done * 1e3
			r.OutsideCPUMs = d.ServerCPU/done*1e3 - r.JobCPUMs
		}
	}
	if l.budget > 0 {
		r.ServerLate = missedAfter - missedBefore
	}
	return r
}
