// Package bench measures offload against its performance targets and
// writes one report with a row per target: the measured value and whether
// it passed. Everything runs on one small shared machine, so the rows
// compare things side by side within one run and read the server's own
// CPU time at the same moments, rather than trusting throughput alone.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"offload/config"
	"offload/loadtest"
	"offload/loadtest/experiment"
	"offload/loadtest/observe"
)

// Config says what to benchmark and where.
type Config struct {
	// Server is the offload binary and Plain the bare fasthttp baseline.
	Server, Plain string
	// Procs is the GOMAXPROCS of the servers; 0 means every CPU.
	Procs int
	// Scale multiplies every measurement window: 1 for the report.
	Scale float64
	// Progress receives a line per step; nil for none.
	Progress io.Writer
}

// Row is one target of the report.
type Row struct {
	ID       int                `json:"id"`
	Name     string             `json:"name"`
	Target   string             `json:"target"`
	Measured string             `json:"measured"`
	Pass     bool               `json:"pass"`
	Notes    []string           `json:"notes,omitempty"`
	Values   map[string]float64 `json:"values"`
	Err      string             `json:"error,omitempty"`
}

// PoolPoint is one pool size of the IO-responsiveness sweep.
type PoolPoint struct {
	Pool         int     `json:"pool"`
	HealthzP99Ms float64 `json:"healthz_p99_ms"`
	HealthzN     int64   `json:"healthz_probes"`
	Goodput      float64 `json:"data_goodput_rps"`
	DataP99Ms    float64 `json:"data_200_p99_ms"`
}

// Report is the outcome of a benchmark run.
type Report struct {
	Machine   observe.Machine `json:"machine"`
	Procs     int             `json:"procs"`
	Started   time.Time       `json:"started"`
	Took      float64         `json:"took_s"`
	Rows      []Row           `json:"rows"`
	PoolSweep []PoolPoint     `json:"pool_sweep"`
	// Capacity is the saturated /data throughput at -work 4ms (row 1).
	Capacity float64 `json:"capacity_rps"`
	// JobMs is row 7's W, the mean time a job ran on its worker.
	JobMs float64 `json:"job_ms"`
	// WorkIterationNs is every offload server's -work-iteration-ns.
	WorkIterationNs float64 `json:"work_iteration_ns"`
	// Overload is the run of the overload phases that rows 8 to 14 judge.
	Overload *experiment.OverloadResult `json:"overload,omitempty"`
}

// Passed reports whether every row passed.
func (r *Report) Passed() bool {
	for _, row := range r.Rows {
		if !row.Pass {
			return false
		}
	}
	return true
}

// target is one row of the report and how to measure it: measure fills
// in the row, or returns why it could not.
type target struct {
	name, target string
	scaled       bool // the load is scaled from row 1's capacity
	measure      func(context.Context, *Row) error
}

// targets lists the rows of the report in order.
func (b *bench) targets() []target {
	return []target{
		{"Work efficiency", "CPU the worker threads spent in jobs / the server's CPU, over the same scrapes: " +
			"≥ 0.95 at -work 4ms, ≥ 0.75 at -work 100us", false, b.workEfficiency},
		{"Hand-off cost", "at the smallest work (-work 0), offload throughput ≥ 0.85 × inline, same load, same run",
			false, b.handOff},
		{"Acceptor overhead", "/healthz throughput through the acceptor group with metrics ≥ 0.9 × " +
			"a bare fasthttp server, same run", false, b.acceptorOverhead},
		{"IO stays responsive", "/data open loop at 2× capacity: /healthz p99 ≤ 5 ms at the default pool size, " +
			"≥ 1000 probes", true, b.ioResponsive},
		{"Overload, static queue", "20 s at 3× capacity, open loop, -overload static, default -queue 64: " +
			"goodput ≥ 0.9 × capacity; 503 p99 ≤ 5 ms; 200 p99 within the queue's bound; no request unanswered; " +
			"RSS at the end ≤ 1.2 × RSS after 5 s", true, b.overload},
		{"Connections", "10,000 idle keep-alive connections at ≤ 10 KB RSS each; ≥ 10,000 new connections/s " +
			"on /healthz, one request each", false, b.connections},
		{"Latency at half capacity", "/data open loop at 0.5 × capacity, measured just before: p50 ≤ W + 1 ms, " +
			"p99 ≤ 2W + 2 ms (W: a job's mean time on its worker, same window)", false, b.halfCapacityLatency},
		{"Sustained 3× overload", "open loop at 3 C, default settings: goodput ≥ 0.85 C; 200 p99 ≤ 6 W; " +
			"503 p99 ≤ 5 ms", false, b.onPhase(experiment.PhaseOverload, sustainedOverload)},
		{"Cost doubles mid-overload", "3 C of 4 ms jobs, then 8 ms jobs at the same rate; from 1 s after the step: " +
			"200 p99 ≤ 6 W8, goodput ≥ 0.8 C8", false, b.onPhase(experiment.PhaseDoubled, costDoubles)},
		{"Bursts absorbed", "0.4 C steady plus 30 simultaneous requests every 2 s: ≤ 2% refused",
			false, b.onPhase(experiment.PhaseBursts, burstsAbsorbed)},
		{"Steady 0.8 C", "open loop at 0.8 C: ≤ 0.5% refused", false, b.onPhase(experiment.PhaseSteady, steady)},
		{"Priority", "bulk at 3 C plus Priority: u=0 at 0.2 C: ≥ 98% of urgent requests get 200, p99 ≤ 6 W; " +
			"total goodput ≥ 0.85 C", false, b.onPhase(experiment.PhaseUrgent, priority)},
		{"Deadlines", "3 C with a 3 W budget per request: 200 p99.9 ≤ budget + 3 ms, goodput ≥ 0.7 C, " +
			"503 p99 ≤ 5 ms", false, b.onPhase(experiment.PhaseDeadline, deadlines)},
		{"/healthz throughout", "/healthz p99 ≤ 5 ms over the whole overload run, every phase; none failed",
			false, b.healthThroughout},
		{"Dispatch cost", "at -work 100us at least 0.8 of the server's CPU goes to the work " +
			"(row 1's jobs CPU / process CPU); rows 2-4 hold", false, b.dispatchCost},
	}
}

// bench carries a run's state between the rows.
type bench struct {
	cfg         Config
	report      *Report
	overloadErr error // why the overload phases of rows 8 to 14 failed
}

// Run measures every target in order and returns the report. A row that
// cannot be measured fails with its error noted; the others still run.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Procs == 0 {
		cfg.Procs = runtime.NumCPU()
	}
	if cfg.Scale <= 0 {
		cfg.Scale = 1
	}
	for _, bin := range []string{cfg.Server, cfg.Plain} {
		if err := observe.CheckBinary(bin); err != nil {
			return nil, err
		}
	}
	b := &bench{cfg: cfg, report: &Report{
		Machine: observe.Describe(ctx),
		Procs:   cfg.Procs,
		Started: time.Now(),
	}}
	settings, err := observe.Calibrated(ctx, observe.Config{Binary: cfg.Server, Server: config.Default(), Procs: cfg.Procs})
	if err != nil {
		return nil, err
	}
	b.report.WorkIterationNs = settings.WorkIterationNs
	for i, t := range b.targets() {
		if err := ctx.Err(); err != nil {
			return b.report, fmt.Errorf("benchmark interrupted: %w", err)
		}
		row := Row{ID: i + 1, Name: t.name, Target: t.target, Values: map[string]float64{}}
		if t.scaled && b.report.Capacity <= 0 {
			row.fail(errNoCapacity)
		} else if err := t.measure(ctx, &row); err != nil {
			row.fail(err)
		}
		b.report.Rows = append(b.report.Rows, row)
		b.progress("row %d %s: %s (%s)", row.ID, row.Name, row.Measured, passText(row.Pass))
	}
	b.report.Took = time.Since(b.report.Started).Seconds()
	return b.report, nil
}

func passText(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

func (b *bench) progress(format string, args ...any) {
	if b.cfg.Progress != nil {
		fmt.Fprintf(b.cfg.Progress, "bench: "+format+"\n", args...)
	}
}

// scaled shortens d for quick runs, never below 300 ms.
func (b *bench) scaled(d time.Duration) time.Duration {
	return max(time.Duration(float64(d)*b.cfg.Scale), 300*time.Millisecond)
}

// withServer runs f against binary started with the default settings
// changed by tune (nil for none): see observe.WithServer.
func (b *bench) withServer(ctx context.Context, binary string, tune func(*config.Config),
	f func(*observe.Server) error) error {
	s := config.Default()
	s.WorkIterationNs = b.report.WorkIterationNs
	if tune != nil {
		tune(&s)
	}
	return observe.WithServer(ctx, observe.Config{Binary: binary, Server: s, Procs: b.cfg.Procs}, f)
}

// stop stops a server and folds a failed drain into err.
func stop(ctx context.Context, srv *observe.Server, err error) error {
	return errors.Join(err, srv.Stop(context.WithoutCancel(ctx)))
}

// saturate loads /data on srv in a closed loop of 32 connections, for a
// warmup and then for d, and returns what changed over d.
func (b *bench) saturate(ctx context.Context, srv *observe.Server, d time.Duration) (observe.Delta, error) {
	cfg := loadtest.Config{URL: srv.URL("/data"), Connections: 32, Duration: b.scaled(time.Second)}
	if _, err := loadtest.Run(ctx, cfg); err != nil {
		return observe.Delta{}, fmt.Errorf("warm up: %w", err)
	}
	cfg.Duration = d
	return srv.Measure(ctx, func() error {
		if _, err := loadtest.Run(ctx, cfg); err != nil {
			return fmt.Errorf("load %s: %w", cfg.URL, err)
		}
		return nil
	})
}

// capacity is the /data goodput of srv under a closed loop of two clients
// per worker (procs workers), for d after warmup: every worker busy, and no
// standing queue for the adaptive policy to shed.
func capacity(ctx context.Context, srv *observe.Server, procs int, warmup, d time.Duration) (float64, error) {
	res, err := loadtest.Run(ctx, loadtest.Config{URL: srv.URL("/data"), Connections: 2 * procs, Warmup: warmup, Duration: d})
	if err == nil && !(res.Goodput > 0) {
		err = errors.New("no 2xx answer")
	}
	if err != nil {
		return 0, fmt.Errorf("capacity: %w", err)
	}
	return res.Goodput, nil
}

// fdLimit is this process's soft limit on open files.
func fdLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 30
	}
	return int(rl.Cur)
}
