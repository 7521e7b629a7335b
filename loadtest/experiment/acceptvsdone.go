package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"offload/loadtest"
)

// AcceptVsDoneConfig describes the accept-versus-done experiment: for each
// mode, a server under an open-loop rate of one request per connection
// that rises in equal steps from below to well above its capacity, with
// its connection and job counters recorded throughout. Start from
// DefaultAcceptVsDoneConfig.
//
// The defaults mirror the original experiment's threads with GOMAXPROCS:
// offload mode gets two Ps and a pool of one worker (the original's
// acceptor thread plus one worker thread), inline mode gets one P (the
// original's single thread doing IO and work alike). Either way one core's
// worth of CPU does the work, so the modes have the same capacity and
// differ only in where the waiting happens.
type AcceptVsDoneConfig struct {
	// Server is the server executable.
	Server string
	// ServerArgs are extra server flags for both modes; the experiment sets
	// -mode, -pool, -work and -stats-interval itself.
	ServerArgs []string
	// Work is the server's -work; 0 keeps the server's default.
	Work time.Duration
	// Modes are the modes to run, in order.
	Modes []string
	// OffloadProcs and OffloadPool are GOMAXPROCS and -pool in offload
	// mode; InlineProcs is GOMAXPROCS in inline mode.
	OffloadProcs, OffloadPool, InlineProcs int

	// Rates are the offered request rates, one per step. When empty, each
	// mode's capacity is measured first (a closed loop of
	// CapacityConnections connections, one request per connection, for
	// CapacityTime) and the rates are RateFactors times the larger
	// capacity, so that the steps start below capacity and end well above
	// it for both modes.
	Rates               []float64
	RateFactors         []float64
	CapacityTime        time.Duration
	CapacityConnections int

	// Step is how long each rate is offered.
	Step time.Duration
	// MaxInflight caps the open loop's outstanding requests; sends due
	// beyond it are counted as missed.
	MaxInflight int
	// Timeout bounds each request.
	Timeout time.Duration
	// ScrapeInterval is the resolution of the timelines: the server's
	// -stats-interval, and the time between samples of the listen queue and
	// CPU use and between scrapes of /metrics.
	ScrapeInterval time.Duration
	// ProbeRate is the /healthz probe's rate during the ramp (0 disables
	// it); each step is probed separately so that its p99 shows when IO
	// stops being responsive.
	ProbeRate    float64
	ProbeTimeout time.Duration

	// Progress, if set, receives a line as each run starts.
	Progress io.Writer
	// Live, if set, receives the built-in generator's per-second status
	// line; pass a terminal only.
	Live io.Writer
}

// DefaultAcceptVsDoneConfig returns the experiment as the project documents
// it: offload (GOMAXPROCS=2, one worker) and inline (GOMAXPROCS=1), rates
// of 0.5, 1, 1.5, 2 and 3 times the measured capacity for 5 s each.
func DefaultAcceptVsDoneConfig() AcceptVsDoneConfig {
	return AcceptVsDoneConfig{
		Server:              "bin/server",
		Modes:               []string{ModeOffload, ModeInline},
		OffloadProcs:        2,
		OffloadPool:         1,
		InlineProcs:         1,
		RateFactors:         []float64{0.5, 1, 1.5, 2, 3},
		CapacityTime:        2 * time.Second,
		CapacityConnections: 8,
		Step:                5 * time.Second,
		MaxInflight:         1000,
		Timeout:             10 * time.Second,
		ScrapeInterval:      time.Second,
		ProbeRate:           20,
		ProbeTimeout:        5 * time.Second,
	}
}

// Validate reports the first problem with c's values, as one line saying
// what to change. It does not look at the machine; Preflight does.
func (c *AcceptVsDoneConfig) Validate() error {
	if len(c.Modes) == 0 {
		return errors.New("no modes: give offload, inline or both")
	}
	for i, m := range c.Modes {
		if m != ModeOffload && m != ModeInline {
			return fmt.Errorf("unknown mode %q: want offload or inline", m)
		}
		if slices.Contains(c.Modes[:i], m) {
			return fmt.Errorf("mode %q given twice", m)
		}
	}
	if c.OffloadProcs < 1 || c.InlineProcs < 1 {
		return fmt.Errorf("GOMAXPROCS must be >= 1 (offload %d, inline %d)", c.OffloadProcs, c.InlineProcs)
	}
	if c.OffloadPool < 1 {
		return fmt.Errorf("offload pool size must be >= 1 (got %d)", c.OffloadPool)
	}
	if c.Work < 0 {
		return fmt.Errorf("work must be >= 0 (got %v)", c.Work)
	}
	for _, r := range c.Rates {
		if !(r > 0) || math.IsInf(r, 1) {
			return fmt.Errorf("rate must be > 0 req/s (got %v)", r)
		}
	}
	if len(c.Rates) == 0 {
		if len(c.RateFactors) == 0 {
			return errors.New("give rates, or rate factors to multiply the measured capacity by")
		}
		for _, f := range c.RateFactors {
			if !(f > 0) || math.IsInf(f, 1) {
				return fmt.Errorf("rate factor must be > 0 (got %v)", f)
			}
		}
		if c.CapacityTime <= 0 || c.CapacityConnections < 1 {
			return fmt.Errorf("capacity measurement needs a time > 0 and connections >= 1 (got %v, %d)", c.CapacityTime, c.CapacityConnections)
		}
	}
	if c.Step <= 0 {
		return fmt.Errorf("step must be > 0 (got %v)", c.Step)
	}
	if c.MaxInflight < 1 {
		return fmt.Errorf("max in-flight must be >= 1 (got %d)", c.MaxInflight)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout must be > 0 (got %v)", c.Timeout)
	}
	if c.ScrapeInterval <= 0 {
		return fmt.Errorf("scrape interval must be > 0 (got %v)", c.ScrapeInterval)
	}
	if c.ProbeRate < 0 || math.IsInf(c.ProbeRate, 0) || math.IsNaN(c.ProbeRate) {
		return fmt.Errorf("healthz probe rate must be >= 0 req/s (got %v)", c.ProbeRate)
	}
	if c.ProbeRate > 0 && c.ProbeTimeout <= 0 {
		return fmt.Errorf("healthz probe timeout must be > 0 (got %v)", c.ProbeTimeout)
	}
	for _, a := range c.ServerArgs {
		switch name := flagName(a); name {
		case "mode", "pool", "work", "stats-interval":
			return fmt.Errorf("server flag %s is set by the experiment: use its own settings instead", a)
		}
	}
	return nil
}

// Preflight checks that the server binary exists. Its error is one line
// saying how to fix it.
func (c *AcceptVsDoneConfig) Preflight() error { return CheckServerBinary(c.Server) }

// flagName returns the name of a command-line flag argument such as
// "-pool=4" or "--pool", or "" for a value.
func flagName(arg string) string {
	if len(arg) < 2 || arg[0] != '-' {
		return ""
	}
	name := arg[1:]
	if name[0] == '-' {
		name = name[1:]
	}
	if i := slices.Index([]byte(name), '='); i >= 0 {
		name = name[:i]
	}
	return name
}

// AcceptVsDoneSettings records the experiment's configuration in its
// results. The fields are AcceptVsDoneConfig's, with durations in seconds
// (the names ending in S) and Work as text.
type AcceptVsDoneSettings struct {
	Server       string    `json:"server"`
	ServerArgs   []string  `json:"server_args,omitempty"`
	Work         string    `json:"work,omitempty"`
	OffloadProcs int       `json:"offload_gomaxprocs"`
	OffloadPool  int       `json:"offload_pool"`
	InlineProcs  int       `json:"inline_gomaxprocs"`
	RateFactors  []float64 `json:"rate_factors,omitempty"`
	StepS        float64   `json:"step_s"`
	MaxInflight  int       `json:"max_inflight"`
	TimeoutS     float64   `json:"timeout_s"`
	ScrapeS      float64   `json:"scrape_interval_s"`
	ProbeRate    float64   `json:"healthz_probe_rate"`
}

// AcceptVsDoneResult is what the experiment measured.
type AcceptVsDoneResult struct {
	Settings AcceptVsDoneSettings `json:"settings"`
	Machine  Machine              `json:"machine"`
	Started  time.Time            `json:"started"`
	// Capacity is each mode's measured closed-loop throughput with one
	// request per connection, when the rates were derived from it.
	Capacity map[string]float64 `json:"capacity_req_per_s,omitempty"`
	// Rates are the offered rates, one per step.
	Rates []float64 `json:"rates"`
	// Runs holds one timeline per mode, in the order run.
	Runs []ModeRun `json:"runs"`
}

// ModeRun is one mode's run under the rising rate.
type ModeRun struct {
	Mode  string `json:"mode"`
	Procs int    `json:"gomaxprocs"`
	// Pool is the worker pool size, 0 in inline mode.
	Pool int `json:"pool"`

	// Series are the server's stats by name as the server prints them
	// ("accepted/s", "closed/s", "submitted/s", "completed/s",
	// "rejected/s", "dropped/s" per second over each interval; "queued",
	// "running", "connections" at its end), at seconds since the start of
	// the ramp by the server's clock.
	Series map[string][]loadtest.Point `json:"series"`
	// The experiment samples four more series itself at the same
	// interval: "backlog", the kernel's listen queue (see
	// ServerProcess.ListenQueue), and "server cpu", "generator cpu" and
	// "other cpu", the CPU cores used by the server, by this process and
	// by the rest of the machine.
	//
	// StatsLines counts the server's stats lines during the ramp.
	StatsLines int `json:"stats_lines"`
	// Steps summarises each rate step.
	Steps []Step `json:"steps"`

	// Load summarises the generator's view of the whole run.
	Requests   int64            `json:"requests"`
	Throughput float64          `json:"req_per_s"`
	Latency    loadtest.Latency `json:"latency_ms"`
	// LatencyByStatus separates, say, fast 503s from slow 200s.
	LatencyByStatus map[int]loadtest.Latency `json:"latency_ms_by_status"`
	Outcomes        loadtest.Outcomes        `json:"outcomes"`
	// ElapsedS is the ramp plus the time the last requests took to finish.
	ElapsedS float64 `json:"elapsed_s"`
	// Scrapes and ScrapeFailures count the /metrics scrapes made during
	// the ramp; a failed scrape got no answer within the interval.
	Scrapes        int `json:"scrapes"`
	ScrapeFailures int `json:"scrape_failures"`
}

// Step summarises one rate step of a mode's run from the scraped series:
// per-second rates are means over the step, gauges are maxima.
type Step struct {
	Offered    float64 `json:"offered_per_s"`
	StartS     float64 `json:"start_s"`
	EndS       float64 `json:"end_s"`
	Accepted   float64 `json:"accepted_per_s"`
	Closed     float64 `json:"closed_per_s"`
	Completed  float64 `json:"completed_per_s"`
	Rejected   float64 `json:"rejected_per_s"`
	MaxQueued  float64 `json:"max_queued"`
	MaxRunning float64 `json:"max_running"`
	MaxConns   float64 `json:"max_connections"`
	// MaxBacklog is the most connections seen waiting in the kernel's
	// listen queue, not yet accepted by the server.
	MaxBacklog float64 `json:"max_backlog"`
	// ServerCPU and GeneratorCPU are the mean CPU cores used by the server
	// and by the load generator (this process, probe included).
	ServerCPU    float64 `json:"server_cpu_cores"`
	GeneratorCPU float64 `json:"generator_cpu_cores"`
	// OtherCPU is the mean CPU the rest of the machine took: other
	// processes and hypervisor steal, the noise of a shared machine.
	OtherCPU float64 `json:"other_cpu_cores"`
	// HealthzP99Ms is the p99 of the /healthz probe during the step, nil
	// if the probe was off or got no answer.
	HealthzP99Ms  *float64 `json:"healthz_p99_ms"`
	HealthzFailed int64    `json:"healthz_failed"`
}

// procs returns the GOMAXPROCS and pool size of a mode.
func (c *AcceptVsDoneConfig) procs(mode string) (procs, pool int) {
	if mode == ModeInline {
		return c.InlineProcs, 0
	}
	return c.OffloadProcs, c.OffloadPool
}

// serverArgs are the server flags of one mode. Offload mode keeps the
// static queue the original experiment had, so the figure shows the same
// bounded queue; the adaptive policy has its own experiment.
func (c *AcceptVsDoneConfig) serverArgs(mode string) []string {
	args := []string{"-mode", mode}
	if mode == ModeOffload {
		args = append(args, "-overload", "static", "-pool", strconv.Itoa(c.OffloadPool))
	}
	if c.Work > 0 {
		args = append(args, "-work", c.Work.String())
	}
	return append(args, c.ServerArgs...)
}

func (c *AcceptVsDoneConfig) label(mode string) string {
	procs, pool := c.procs(mode)
	if mode == ModeInline {
		return fmt.Sprintf("mode=inline GOMAXPROCS=%d", procs)
	}
	return fmt.Sprintf("mode=offload GOMAXPROCS=%d pool=%d", procs, pool)
}

// AcceptVsDone runs the experiment c describes: the capacity measurements
// if needed, then for each mode a fresh server under the rising rate. Every
// server must exit 0 after SIGTERM. It returns the runs completed so far
// with the first error.
func AcceptVsDone(ctx context.Context, c AcceptVsDoneConfig) (*AcceptVsDoneResult, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("accept-vs-done: %w", err)
	}
	if err := c.Preflight(); err != nil {
		return nil, err
	}
	res := &AcceptVsDoneResult{
		Settings: c.settings(),
		Machine:  DescribeMachine(ctx),
		Started:  time.Now(),
		Rates:    slices.Clone(c.Rates),
	}
	measure := len(c.Rates) == 0
	steps := len(c.Rates)
	if measure {
		steps = len(c.RateFactors)
	}
	var plan []PlannedRun
	if measure {
		for _, m := range c.Modes {
			plan = append(plan, PlannedRun{Label: "capacity, " + c.label(m), Duration: c.CapacityTime + runOverhead})
		}
	}
	for _, m := range c.Modes {
		// The drain after the ramp takes up to the request timeout.
		plan = append(plan, PlannedRun{Label: "rising rate, " + c.label(m), Duration: time.Duration(steps)*c.Step + c.Timeout/2 + runOverhead})
	}
	progress := NewProgress(c.Progress, plan)
	run := 0

	if measure {
		res.Capacity = map[string]float64{}
		var top float64
		for _, m := range c.Modes {
			progress.Start(run)
			run++
			capacity, err := c.measureCapacity(ctx, m)
			if err != nil {
				return res, fmt.Errorf("accept-vs-done: capacity of %s: %w", c.label(m), err)
			}
			res.Capacity[m] = capacity
			top = max(top, capacity)
		}
		if top <= 0 {
			return res, errors.New("accept-vs-done: measured no capacity: the server answered nothing")
		}
		for _, f := range c.RateFactors {
			res.Rates = append(res.Rates, math.Max(1, math.Round(f*top)))
		}
	}

	for _, m := range c.Modes {
		progress.Start(run)
		run++
		mr, err := c.ramp(ctx, m, res.Rates)
		if err != nil {
			return res, fmt.Errorf("accept-vs-done: %s: %w", c.label(m), err)
		}
		res.Runs = append(res.Runs, mr)
	}
	return res, nil
}

func (c *AcceptVsDoneConfig) settings() AcceptVsDoneSettings {
	s := AcceptVsDoneSettings{
		Server: c.Server, ServerArgs: c.ServerArgs,
		OffloadProcs: c.OffloadProcs, OffloadPool: c.OffloadPool, InlineProcs: c.InlineProcs,
		StepS: c.Step.Seconds(), MaxInflight: c.MaxInflight, TimeoutS: c.Timeout.Seconds(),
		ScrapeS: c.ScrapeInterval.Seconds(), ProbeRate: c.ProbeRate,
	}
	if len(c.Rates) == 0 {
		s.RateFactors = c.RateFactors
	}
	if c.Work > 0 {
		s.Work = c.Work.String()
	}
	return s
}

// withServer starts a server for mode with extra flags, runs f against it,
// and stops it, requiring a clean exit.
func (c *AcceptVsDoneConfig) withServer(ctx context.Context, mode string, extra []string, onLine func(string), f func(*ServerProcess) error) error {
	procs, _ := c.procs(mode)
	srv, err := StartServer(ctx, ServerConfig{
		Binary: c.Server, Args: append(c.serverArgs(mode), extra...), Procs: procs, OnLine: onLine,
	})
	if err != nil {
		return err
	}
	if err := f(srv); err != nil {
		srv.Kill()
		return err
	}
	select {
	case <-srv.Exited():
		return srv.failure("exited during the run", srv.exitErr())
	default:
	}
	return srv.Stop(context.WithoutCancel(ctx))
}

// measureCapacity returns the closed-loop throughput of a fresh server in
// mode with one request per connection.
func (c *AcceptVsDoneConfig) measureCapacity(ctx context.Context, mode string) (float64, error) {
	var capacity float64
	err := c.withServer(ctx, mode, nil, nil, func(srv *ServerProcess) error {
		res, err := loadtest.Run(ctx, loadtest.Config{
			URL:         srv.URL("/data"),
			Connections: c.CapacityConnections,
			Close:       true,
			Duration:    c.CapacityTime,
			Warmup:      c.CapacityTime / 4,
			Timeout:     c.Timeout,
			Progress:    c.Live,
		})
		if err != nil {
			return fmt.Errorf("load generator: %w", err)
		}
		if res.Interrupted {
			return context.Cause(ctx)
		}
		capacity = res.Goodput
		return nil
	})
	return capacity, err
}

// ramp offers rates in equal steps to a fresh server in mode, recording its
// stats lines and probing /healthz step by step.
//
// The timelines come from the server's own -stats-interval lines rather
// than from scraping /metrics: a scrape is an HTTP request like any other,
// and when inline mode is overloaded it waits seconds for the starved IO
// path, so the scraped series would have gaps exactly where the experiment
// looks. The stats goroutine is woken by a timer, which the Go scheduler
// runs promptly even then. /metrics is still scraped, and the scrapes that
// failed are counted as evidence of that starvation.
func (c *AcceptVsDoneConfig) ramp(ctx context.Context, mode string, rates []float64) (ModeRun, error) {
	procs, pool := c.procs(mode)
	mr := ModeRun{Mode: mode, Procs: procs, Pool: pool}
	stats := &statsCollector{}
	extra := []string{"-stats-interval", c.ScrapeInterval.String()}
	err := c.withServer(ctx, mode, extra, stats.add, func(srv *ServerProcess) error {
		cfg := loadtest.Config{
			URL:            srv.URL("/data"),
			Rates:          rates,
			MaxInflight:    c.MaxInflight,
			Close:          true,
			Duration:       time.Duration(len(rates)) * c.Step,
			Timeout:        c.Timeout,
			Progress:       c.Live,
			ScrapeURL:      srv.URL("/metrics"),
			ScrapeInterval: c.ScrapeInterval,
			ScrapeMetrics:  []string{"offload_connections_accepted_total"},
		}
		var res *loadtest.Result
		var runErr error
		loadDone := make(chan struct{})
		start := stats.begin()
		go func() {
			defer close(loadDone)
			res, runErr = loadtest.Run(ctx, cfg)
		}()
		sampled := make(chan samples, 1)
		go func() { sampled <- sample(srv, start, c.ScrapeInterval, loadDone) }()

		// One probe per step, each started on the step's schedule.
		probes := make([]*probe, 0, len(rates))
		timer := time.NewTimer(0)
		defer timer.Stop()
		for k := range rates {
			timer.Reset(time.Until(start.Add(time.Duration(k) * c.Step)))
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
			if ctx.Err() != nil {
				break
			}
			probes = append(probes, startProbe(ctx, probeConfig{
				url: srv.URL("/healthz"), rate: c.ProbeRate, duration: c.Step, timeout: c.ProbeTimeout,
			}))
		}
		<-loadDone
		own := <-sampled
		select {
		case <-srv.Exited():
			// Explains any failure below better than its own message.
			return srv.failure("exited during the run", srv.exitErr())
		default:
		}
		// One more stats line covers the last requests' interval.
		end := time.Since(start) + c.ScrapeInterval
		var probeErr error
		for _, p := range probes {
			pr, err := p.wait()
			probeErr = errors.Join(probeErr, err)
			mr.Steps = append(mr.Steps, Step{})
			if pr != nil {
				st := &mr.Steps[len(mr.Steps)-1]
				st.HealthzFailed = pr.Requests - pr.Outcomes.Status[200]
				if pr.Answered > 0 {
					st.HealthzP99Ms = ptr(pr.Latency.P99)
				}
			}
		}
		if runErr != nil {
			return fmt.Errorf("load generator: %w", runErr)
		}
		if res.Interrupted {
			return context.Cause(ctx)
		}
		if probeErr != nil {
			return probeErr
		}
		// Wait for the stats line that covers the end of the load, bounded
		// in case the server stopped printing.
		if err := stats.waitUntil(ctx, end, 2*c.ScrapeInterval+time.Second); err != nil {
			return err
		}
		if own.err != nil {
			return own.err
		}
		mr.Series = stats.series(end)
		mr.Series["backlog"] = own.backlog
		mr.Series["server cpu"] = own.serverCPU
		mr.Series["generator cpu"] = own.generatorCPU
		mr.Series["other cpu"] = own.otherCPU
		mr.StatsLines = stats.count()
		mr.fill(res, rates, c.Step, c.ScrapeInterval)
		return nil
	})
	return mr, err
}

// fill records the generator's result and summarises the series step by
// step.
func (mr *ModeRun) fill(res *loadtest.Result, rates []float64, step, interval time.Duration) {
	mr.Requests = res.Answered
	mr.Throughput = res.Throughput
	mr.Latency = res.Latency
	mr.LatencyByStatus = res.LatencyByStatus
	mr.Outcomes = res.Outcomes
	mr.ElapsedS = res.ElapsedSeconds
	if sc := res.Scrape; sc != nil {
		mr.Scrapes, mr.ScrapeFailures = sc.Scrapes, sc.Failures
	}
	for k, rate := range rates {
		if k >= len(mr.Steps) {
			mr.Steps = append(mr.Steps, Step{})
		}
		st := &mr.Steps[k]
		st.Offered = rate
		st.StartS = (time.Duration(k) * step).Seconds()
		st.EndS = (time.Duration(k+1) * step).Seconds()
		from, to := st.StartS, st.EndS
		st.Accepted = meanRate(mr.Series["accepted/s"], from, to, interval)
		st.Closed = meanRate(mr.Series["closed/s"], from, to, interval)
		st.Completed = meanRate(mr.Series["completed/s"], from, to, interval)
		st.Rejected = meanRate(mr.Series["rejected/s"], from, to, interval)
		st.MaxQueued = maxValue(mr.Series["queued"], from, to)
		st.MaxRunning = maxValue(mr.Series["running"], from, to)
		st.MaxConns = maxValue(mr.Series["connections"], from, to)
		st.MaxBacklog = maxValue(mr.Series["backlog"], from, to)
		st.ServerCPU = meanRate(mr.Series["server cpu"], from, to, interval)
		st.GeneratorCPU = meanRate(mr.Series["generator cpu"], from, to, interval)
		st.OtherCPU = meanRate(mr.Series["other cpu"], from, to, interval)
	}
}

// samples are what the experiment measures over a run besides the stats
// lines: the kernel's listen queue (as the server's metrics listener
// reports it), and the CPU used by the server and by this process (the load
// generator) per wall second.
type samples struct {
	backlog, serverCPU, generatorCPU, otherCPU []loadtest.Point
	err                                        error
}

// sample measures every interval until done is closed, at seconds since
// start.
func sample(srv *ServerProcess, start time.Time, interval time.Duration, done <-chan struct{}) samples {
	var out samples
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lastAt := time.Now()
	lastServer, err := srv.CPUSeconds()
	if err != nil {
		out.err = err
		return out
	}
	lastSelf, err := selfCPU()
	if err != nil {
		out.err = err
		return out
	}
	lastMachine, err := machineBusySeconds()
	if err != nil {
		out.err = err
		return out
	}
	for {
		select {
		case <-done:
			return out
		case <-tick.C:
		}
		q, err := srv.ListenQueue(context.Background())
		if err != nil {
			out.err = err
			return out
		}
		server, err := srv.CPUSeconds()
		if err != nil {
			out.err = err
			return out
		}
		self, err := selfCPU()
		if err != nil {
			out.err = err
			return out
		}
		machine, err := machineBusySeconds()
		if err != nil {
			out.err = err
			return out
		}
		now := time.Now()
		t, wall := now.Sub(start).Seconds(), now.Sub(lastAt).Seconds()
		out.backlog = append(out.backlog, loadtest.Point{At: t, Value: float64(q.Queued)})
		out.serverCPU = append(out.serverCPU, loadtest.Point{At: t, Value: (server - lastServer) / wall})
		out.generatorCPU = append(out.generatorCPU, loadtest.Point{At: t, Value: (self - lastSelf) / wall})
		other := max(0, (machine-lastMachine)-(server-lastServer)-(self-lastSelf)) // 10 ms ticks can make it dip below 0
		out.otherCPU = append(out.otherCPU, loadtest.Point{At: t, Value: other / wall})
		lastAt, lastServer, lastSelf, lastMachine = now, server, self, machine
	}
}

// statsCollector turns the server's stats lines, such as
//
//	time=2026-01-02T15:04:05.123Z level=INFO msg=stats accepted/s=84.0 ... queued=0 running=1 connections=10
//
// into time series, at seconds since begin by the server's own timestamps.
type statsCollector struct {
	mu      sync.Mutex
	start   time.Time // zero until begin
	points  map[string][]loadtest.Point
	last    time.Duration // time of the latest line since start
	n       int
	arrived chan struct{} // closed and replaced on every line after begin
}

// begin marks the start of the ramp and returns it; earlier lines are
// dropped.
func (s *statsCollector) begin() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = time.Now()
	s.points = map[string][]loadtest.Point{}
	s.arrived = make(chan struct{})
	return s.start
}

// add is the ServerConfig.OnLine hook.
func (s *statsCollector) add(line string) {
	at, values, ok := parseStatsLine(line)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.start.IsZero() || at.Before(s.start) {
		return
	}
	t := at.Sub(s.start)
	for _, kv := range values {
		s.points[kv.name] = append(s.points[kv.name], loadtest.Point{At: t.Seconds(), Value: kv.value})
	}
	s.last = max(s.last, t)
	s.n++
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// waitUntil waits until a line at or after t has arrived, for at most
// limit. A server that stopped printing stats is an error.
func (s *statsCollector) waitUntil(ctx context.Context, t, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		last, arrived := s.last, s.arrived
		s.mu.Unlock()
		if last >= t {
			return nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-deadline.C:
			return fmt.Errorf("the server printed no stats line after %.1fs of the ramp (last at %.1fs): is -stats-interval working?", t.Seconds(), last.Seconds())
		}
	}
}

// series returns the points up to end, by short name.
func (s *statsCollector) series(end time.Duration) map[string][]loadtest.Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]loadtest.Point, len(s.points))
	for name, pts := range s.points {
		for _, p := range pts {
			if p.At <= end.Seconds() {
				out[name] = append(out[name], p)
			}
		}
	}
	return out
}

func (s *statsCollector) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

type statValue struct {
	name  string
	value float64
}

// parseStatsLine reads a server stats line: its time and its name=value
// numbers. It reports false for any other line.
func parseStatsLine(line string) (time.Time, []statValue, bool) {
	if !strings.Contains(line, " msg=stats ") {
		return time.Time{}, nil, false
	}
	var at time.Time
	var values []statValue
	for _, field := range strings.Fields(line) {
		name, value, ok := strings.Cut(field, "=")
		if !ok {
			continue
		}
		switch name {
		case "time":
			t, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				return time.Time{}, nil, false
			}
			at = t
		case "level", "msg":
		default:
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				continue
			}
			values = append(values, statValue{name, v})
		}
	}
	if at.IsZero() || len(values) == 0 {
		return time.Time{}, nil, false
	}
	return at, values, true
}

// meanRate averages the rate points whose interval lies within [from, to].
// A rate point at time t covers the interval since the previous scrape,
// about t-interval to t; allowing a quarter interval of slack keeps points
// whose scrape was a little late.
func meanRate(pts []loadtest.Point, from, to float64, interval time.Duration) float64 {
	iv := interval.Seconds()
	var sum float64
	var n int
	for _, p := range pts {
		if p.At-iv >= from-iv/4 && p.At <= to+iv/4 {
			sum += p.Value
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// maxValue is the largest gauge value scraped within [from, to].
func maxValue(pts []loadtest.Point, from, to float64) float64 {
	var m float64
	for _, p := range pts {
		if p.At >= from && p.At <= to {
			m = max(m, p.Value)
		}
	}
	return m
}
