package experiment

import (
	"context"
	"fmt"
	"slices"
	"time"

	"offload/config"
	"offload/loadtest"
	"offload/loadtest/observe"
	"offload/metrics"
	"offload/overload"
)

// Row is one run of a sweep: one mode, pool size and engine; or, in a
// summary, the runs of one configuration (see Summarize).
type Row struct {
	Mode   string `json:"mode"`
	Engine Engine `json:"engine"`
	// Pool is the worker pool size; 0 in inline mode, which has no pool.
	Pool int `json:"pool"`
	// Run numbers the repetitions of a configuration from 1; in a summary
	// row it is 0, Runs is the number of runs summarised and
	// ThroughputMin and ThroughputMax the range of Throughput over them.
	Run           int     `json:"run,omitempty"`
	Runs          int     `json:"runs,omitempty"`
	ThroughputMin float64 `json:"req_per_s_min,omitempty"`
	ThroughputMax float64 `json:"req_per_s_max,omitempty"`

	// Requests is the number of /data responses in the measured time,
	// whatever their status, and Throughput that per second; the
	// latencies are in ms.
	Requests   int64   `json:"requests"`
	Throughput float64 `json:"req_per_s"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	P999Ms     float64 `json:"p99_9_ms"`

	// HealthzP99Ms is the p99 latency of the /healthz probe, nil when the
	// probe was off or got no answer; HealthzFailed counts the probes that
	// got no 200.
	HealthzP99Ms  *float64 `json:"healthz_p99_ms"`
	HealthzFailed int64    `json:"healthz_failed"`

	// Status503 counts 503 responses (busy); wrk cannot tell status codes
	// apart, so for wrk it counts every status >= 400. Errors counts
	// requests without a response (timeouts, connect errors, resets) and
	// responses with another non-2xx status.
	Status503 int64 `json:"status_503"`
	Errors    int64 `json:"errors"`

	// Accepted, Completed and Rejected are the server's counters over the
	// run, warmup and probe included.
	Accepted  int64 `json:"accepted"`
	Completed int64 `json:"completed"`
	Rejected  int64 `json:"rejected"`

	// ServerCPUMsPerRequest is the server's CPU time per completed job.
	ServerCPUMsPerRequest float64 `json:"server_cpu_ms_per_request"`
	// The cores used by the server, by the load generators (this process
	// and wrk) and by the rest of the machine (other processes, steal).
	ServerCPUCores    float64 `json:"server_cpu_cores"`
	GeneratorCPUCores float64 `json:"generator_cpu_cores"`
	OtherCPUCores     float64 `json:"other_cpu_cores"`

	ElapsedS  float64 `json:"elapsed_s"` // the measured time
	WrkOutput string  `json:"wrk_output,omitempty"`
}

// SweepResult is what a sweep measured.
type SweepResult struct {
	Config  SweepConfig     `json:"config"`
	Machine observe.Machine `json:"machine"`
	Started time.Time       `json:"started"`
	// Rows holds every run in the order run.
	Rows []Row `json:"rows"`
	// Summary holds one row per configuration and engine; see Summarize.
	Summary []Row `json:"summary"`
}

// sweepRun is one planned run.
type sweepRun struct {
	mode    string
	pool    int // 0 in inline mode
	engine  Engine
	run     int // 1 to repeat
	repeats int
}

func (r sweepRun) label() string {
	l := fmt.Sprintf("mode=%s pool=%s engine=%s", r.mode, poolText(r.mode, r.pool), r.engine)
	if r.repeats > 1 {
		l += fmt.Sprintf(" repeat=%d/%d", r.run, r.repeats)
	}
	return l
}

// plan lists the runs in order: modes as given, pool sizes in increasing
// order, engines back to back. Repetitions are the outer loop, so that a
// drift of the machine's speed spreads over every configuration.
func (c *SweepConfig) plan() []sweepRun {
	pools := slices.Sorted(slices.Values(c.Pools))
	var runs []sweepRun
	for rep := 1; rep <= c.Repeat; rep++ {
		add := func(mode string, pool int) {
			for _, e := range c.Engines {
				runs = append(runs, sweepRun{mode: mode, pool: pool, engine: e, run: rep, repeats: c.Repeat})
			}
		}
		for _, m := range c.Modes {
			if m == config.ModeInline {
				add(m, 0)
				continue
			}
			for _, p := range pools {
				add(m, p)
			}
		}
	}
	return runs
}

// Sweep runs every configuration of c on a fresh server: /data in a closed
// loop while probing /healthz. It stops at the first failure and returns
// the rows measured until then with the error.
func Sweep(ctx context.Context, c SweepConfig) (*SweepResult, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if err := c.Preflight(); err != nil {
		return nil, err
	}
	settings, err := observe.Calibrated(ctx, observe.Config{Binary: c.Server, Server: c.Settings, Procs: c.Procs})
	if err != nil {
		return nil, err
	}
	c.Settings = settings
	res := &SweepResult{Config: c, Machine: observe.Describe(ctx), Started: time.Now()}
	runs := c.plan()
	for i, r := range runs {
		progressf(c.Progress, "run %d of %d (%s)", i+1, len(runs), r.label())
		row, err := c.runOne(ctx, r)
		if err != nil {
			return res, fmt.Errorf("sweep run %d of %d (%s): %w", i+1, len(runs), r.label(), err)
		}
		res.Rows = append(res.Rows, row)
		res.Summary = Summarize(res.Rows)
	}
	return res, nil
}

// serverSettings are the server's settings of one run. Offload mode runs
// -overload static: the closed loop's clients resend the moment they are
// answered, which the static queue holds, where the adaptive policy would
// refuse the excess and measure a loop of instant 503s.
func (c *SweepConfig) serverSettings(r sweepRun) config.Config {
	s := c.Settings
	s.Mode = r.mode
	if r.mode == config.ModeOffload {
		s.Overload, s.Pool = overload.Static.String(), r.pool
	}
	return s
}

// runOne measures one configuration on a fresh server.
func (c *SweepConfig) runOne(ctx context.Context, r sweepRun) (row Row, err error) {
	cfg := observe.Config{Binary: c.Server, Server: c.serverSettings(r), Procs: c.Procs}
	err = observe.WithServer(ctx, cfg, func(srv *observe.Server) error {
		d, err := srv.Measure(ctx, func() (err error) {
			row, err = c.load(ctx, srv, r.engine)
			return err
		})
		row.count(d)
		return err
	})
	row.Mode, row.Engine, row.Pool, row.Run = r.mode, r.engine, r.pool, r.run
	return row, err
}

// count records the server's counters and CPU time over the run.
func (row *Row) count(d observe.Delta) {
	row.Accepted = int64(d.Counter(metrics.ConnectionsAccepted))
	row.Completed = int64(d.Counter(metrics.JobsCompleted))
	row.Rejected = int64(d.Counter(metrics.JobsRejected))
	if row.Completed > 0 {
		row.ServerCPUMsPerRequest = d.ServerCPU * 1e3 / float64(row.Completed)
	}
	row.ServerCPUCores, row.GeneratorCPUCores, row.OtherCPUCores = d.Cores(d.ServerCPU), d.Cores(d.GeneratorCPU), d.Cores(d.OtherCPU)
}

// load runs the closed loop with engine e and the probe against srv and
// returns their figures in a row.
func (c *SweepConfig) load(ctx context.Context, srv *observe.Server, e Engine) (Row, error) {
	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	warmup := c.Warmup
	if e == Wrk {
		warmup = ceilSecond(warmup) // as wrk runs it
	}
	waitProbe := startProbe(loadCtx, c.ProbeRate, loadtest.Config{
		URL: srv.URL("/healthz"), Warmup: warmup, Duration: c.Duration, Timeout: c.ProbeTimeout,
	})
	row, err := ClosedLoop(loadCtx, e, c.WrkThreads, loadtest.Config{
		URL: srv.URL("/data"), Connections: c.Connections, Close: c.Close,
		Duration: c.Duration, Warmup: c.Warmup, Timeout: c.Timeout,
	})
	if err != nil {
		cancel()
		waitProbe()
		return Row{}, err
	}
	row.HealthzP99Ms, row.HealthzFailed, err = waitProbe()
	return row, err
}
