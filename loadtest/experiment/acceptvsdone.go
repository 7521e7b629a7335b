package experiment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"offload/loadtest"
	"offload/loadtest/observe"
	"offload/serverlog"
)

// AcceptVsDoneResult is what the experiment measured.
type AcceptVsDoneResult struct {
	Config  AcceptVsDoneConfig `json:"config"`
	Machine observe.Machine    `json:"machine"`
	Started time.Time          `json:"started"`
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

	// Series are the server's stats by name as it prints them (rates such
	// as "accepted/s" and "completed/s", gauges such as "queued"), and
	// "backlog" (the listen queue) and "server cpu", "generator cpu" and
	// "other cpu" (cores) sampled by the experiment, at seconds since the
	// start of the ramp by the server's clock.
	Series map[string][]Point `json:"series"`
	// StatsLines counts the server's stats records during the ramp.
	StatsLines int `json:"stats_lines"`
	// Steps summarises each rate step.
	Steps []Step `json:"steps"`

	// The generator's view of the whole run.
	Requests        int64                    `json:"requests"`
	Throughput      float64                  `json:"req_per_s"`
	Latency         loadtest.Latency         `json:"latency_ms"`
	LatencyByStatus map[int]loadtest.Latency `json:"latency_ms_by_status"`
	Outcomes        loadtest.Outcomes        `json:"outcomes"`
	ElapsedS        float64                  `json:"elapsed_s"`
	// Scrapes and ScrapeFailures count the scrapes of /metrics on the
	// service port, one an interval, that got a 200 within it (at most 2 s)
	// and that did not.
	Scrapes        int `json:"scrapes"`
	ScrapeFailures int `json:"scrape_failures"`
}

// Point is one value of a series.
type Point struct {
	At    float64 `json:"t"` // seconds since the start of the ramp
	Value float64 `json:"v"`
}

// Step summarises one rate step of a mode's run from the series: rates
// are means over the step, gauges (MaxBacklog is the listen queue's)
// maxima, the CPU figures mean cores.
type Step struct {
	Offered      float64 `json:"offered_per_s"`
	StartS       float64 `json:"start_s"`
	EndS         float64 `json:"end_s"`
	Accepted     float64 `json:"accepted_per_s"`
	Closed       float64 `json:"closed_per_s"`
	Completed    float64 `json:"completed_per_s"`
	Rejected     float64 `json:"rejected_per_s"`
	MaxQueued    float64 `json:"max_queued"`
	MaxRunning   float64 `json:"max_running"`
	MaxConns     float64 `json:"max_connections"`
	MaxBacklog   float64 `json:"max_backlog"`
	ServerCPU    float64 `json:"server_cpu_cores"`
	GeneratorCPU float64 `json:"generator_cpu_cores"`
	OtherCPU     float64 `json:"other_cpu_cores"`
	// HealthzP99Ms is nil if the probe was off or got no answer.
	HealthzP99Ms  *float64 `json:"healthz_p99_ms"`
	HealthzFailed int64    `json:"healthz_failed"`
}

// AcceptVsDone runs the experiment c describes: the capacity measurements
// if needed, then for each mode a fresh server under the rising rate. It
// returns the runs completed so far with the first error.
func AcceptVsDone(ctx context.Context, c AcceptVsDoneConfig) (*AcceptVsDoneResult, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("accept-vs-done: %w", err)
	}
	if err := c.Preflight(); err != nil {
		return nil, err
	}
	settings, err := observe.Calibrated(ctx, observe.Config{Binary: c.Server, Server: c.Settings, Procs: c.OffloadProcs})
	if err != nil {
		return nil, err
	}
	c.Settings = settings
	res := &AcceptVsDoneResult{
		Config: c, Machine: observe.Describe(ctx), Started: time.Now(), Rates: slices.Clone(c.Rates),
	}
	measure, runs, run := len(c.Rates) == 0, len(c.Modes), 0
	if measure {
		runs *= 2
	}
	next := func(what, mode string) {
		run++
		progressf(c.Progress, "run %d of %d (%s, %s)", run, runs, what, c.label(mode))
	}
	if measure {
		res.Capacity = map[string]float64{}
		var top float64
		for _, m := range c.Modes {
			next("capacity", m)
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
		next("rising rate", m)
		mr, err := c.ramp(ctx, m, res.Rates)
		if err != nil {
			return res, fmt.Errorf("accept-vs-done: %s: %w", c.label(m), err)
		}
		res.Runs = append(res.Runs, mr)
	}
	return res, nil
}

// withServer runs f against a fresh server for mode: see observe.WithServer.
func (c *AcceptVsDoneConfig) withServer(ctx context.Context, mode string, onRecord func(serverlog.Record), f func(*observe.Server) error) error {
	procs, _ := c.procs(mode)
	cfg := observe.Config{Binary: c.Server, Server: c.serverSettings(mode), Procs: procs, OnRecord: onRecord}
	return observe.WithServer(ctx, cfg, f)
}

// measureCapacity returns the closed-loop throughput of a fresh server in
// mode with one request per connection.
func (c *AcceptVsDoneConfig) measureCapacity(ctx context.Context, mode string) (float64, error) {
	var capacity float64
	err := c.withServer(ctx, mode, nil, func(srv *observe.Server) error {
		res, err := loadtest.Run(ctx, loadtest.Config{
			URL: srv.URL("/data"), Connections: c.CapacityConnections, Close: true,
			Duration: c.CapacityTime, Warmup: c.CapacityTime / 4, Timeout: c.Timeout,
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
// stats records and probing /healthz step by step. The timelines come from
// the stats records, not /metrics: overloaded, inline mode answers scrapes
// seconds late, even on the metrics listener (snapshots meant a second
// apart came up to 4 s apart), while the stats goroutine is woken by a
// timer and each record's rates are over the server's own interval. The
// failed scrapes of /metrics on the service port are counted as evidence.
func (c *AcceptVsDoneConfig) ramp(ctx context.Context, mode string, rates []float64) (ModeRun, error) {
	procs, pool := c.procs(mode)
	mr := ModeRun{Mode: mode, Procs: procs, Pool: pool}
	stats := &statsCollector{}
	err := c.withServer(ctx, mode, stats.add, func(srv *observe.Server) error {
		start := stats.begin()
		ramp := time.Duration(len(rates)) * c.Step
		waitLoad := StartLoad(ctx, loadtest.Config{
			URL: srv.URL("/data"), Rates: rates, MaxInflight: c.MaxInflight, Close: true,
			Duration: ramp, Timeout: c.Timeout,
		})
		// /metrics on the service port, as a scraper unaware of
		// -metrics-addr would fetch it, once an interval.
		waitScrapes := StartLoad(ctx, loadtest.Config{
			URL: srv.URL("/metrics"), Rates: []float64{1 / c.ScrapeInterval.Seconds()}, Close: true,
			Duration: ramp, Timeout: min(c.ScrapeInterval, 2*time.Second),
		})
		var res *loadtest.Result
		var runErr error
		// One probe per step, each started on the step's schedule.
		var probes []func() (*float64, int64, error)
		snaps, sampleErr := srv.SampleWhile(ctx, c.ScrapeInterval, func() error {
			for k := range rates {
				if !sleepUntil(ctx, start.Add(time.Duration(k)*c.Step)) {
					break
				}
				probes = append(probes, startProbe(ctx, c.ProbeRate, loadtest.Config{
					URL: srv.URL("/healthz"), Duration: c.Step, Timeout: c.ProbeTimeout,
				}))
			}
			res, runErr = waitLoad()
			return nil
		})
		scrapes, scrapeErr := waitScrapes()
		// A crash explains any failure below better than its own message.
		if err := srv.Running(); err != nil {
			return err
		}
		// One more stats record covers the last requests' interval.
		end := time.Since(start) + c.ScrapeInterval
		var probeErr error
		for _, wait := range probes {
			p99, failed, err := wait()
			probeErr = errors.Join(probeErr, err)
			mr.Steps = append(mr.Steps, Step{HealthzP99Ms: p99, HealthzFailed: failed})
		}
		if err := errors.Join(runErr, scrapeErr); err != nil {
			return fmt.Errorf("load generator: %w", err)
		}
		if res.Interrupted {
			return context.Cause(ctx)
		}
		if probeErr != nil {
			return probeErr
		}
		// Wait for the stats record that covers the end of the load,
		// bounded in case the server stopped logging them.
		if err := stats.waitUntil(ctx, end, 2*c.ScrapeInterval+time.Second); err != nil {
			return err
		}
		if sampleErr != nil {
			return sampleErr
		}
		mr.Series, mr.StatsLines = stats.series(end)
		if err := addUsageSeries(mr.Series, snaps, start); err != nil {
			return err
		}
		mr.fill(res, rates, c.Step, c.ScrapeInterval)
		ok := scrapes.Outcomes.Status[200]
		mr.Scrapes, mr.ScrapeFailures = int(ok), int(scrapes.Requests+scrapes.Outcomes.Missed-ok)
		return nil
	})
	return mr, err
}

// fill records the generator's result and summarises the series step by
// step.
func (mr *ModeRun) fill(res *loadtest.Result, rates []float64, step, interval time.Duration) {
	mr.Requests, mr.Throughput, mr.ElapsedS = res.Answered, res.Throughput, res.ElapsedSeconds
	mr.Latency, mr.LatencyByStatus, mr.Outcomes = res.Latency, res.LatencyByStatus, res.Outcomes
	for k, rate := range rates {
		if k >= len(mr.Steps) {
			mr.Steps = append(mr.Steps, Step{})
		}
		st := &mr.Steps[k]
		st.Offered, st.StartS, st.EndS = rate, (time.Duration(k) * step).Seconds(), (time.Duration(k+1) * step).Seconds()
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
