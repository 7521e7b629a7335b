package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"offload/loadtest"
	"offload/loadtest/wrk"
)

// The server's -mode values.
const (
	ModeOffload = "offload" // /data's work runs on the worker pool
	ModeInline  = "inline"  // /data's work runs on the connection's goroutine
)

// Engine names a load generator.
type Engine string

// The load generators a sweep can use.
const (
	Builtin Engine = "builtin" // offload/loadtest, in this process
	Wrk     Engine = "wrk"     // the wrk executable
)

// runOverhead is the planned time per run beyond warmup and measurement:
// server start-up (its work calibration takes 0.2 s), health check, the
// drain after SIGTERM, and wrk's whole-second rounding.
const runOverhead = 1500 * time.Millisecond

// SweepConfig describes a pool-size sweep. Start from DefaultSweepConfig;
// every field must be set except where a zero value is documented.
type SweepConfig struct {
	// Server is the server executable.
	Server string
	// ServerArgs are extra server flags for every run, e.g. "-queue", "128".
	// The sweep sets -mode, -pool and -work itself.
	ServerArgs []string
	// Procs is the server's GOMAXPROCS.
	Procs int
	// Pools are the worker pool sizes to measure in offload mode.
	Pools []int
	// Modes are the server modes to measure. Inline mode has no pool, so
	// it runs once per engine, not once per pool size.
	Modes []string
	// Engines are the load generators; with several, each configuration is
	// measured by each engine back to back, so that they can be compared on
	// a noisy machine.
	Engines []Engine

	// Connections is the closed loop's number of connections.
	Connections int
	// Close sends "Connection: close": one request per connection.
	Close bool
	// Duration is the measured time of each run; whole seconds with wrk.
	Duration time.Duration
	// Warmup is load before the measurement, not recorded; 0 for none.
	// wrk rounds it up to whole seconds.
	Warmup time.Duration
	// Timeout bounds each request; wrk rounds it up to whole seconds.
	Timeout time.Duration
	// Work is the server's -work, the CPU time per /data request; 0 keeps
	// the server's default.
	Work time.Duration
	// WrkThreads is wrk's -t; Connections must be a multiple of it.
	WrkThreads int
	// Repeat is how many times each configuration is measured (>= 1). On
	// a shared machine one run can be 25% off the next; the sweep is run
	// Repeat times over, and the table and chart show the medians.
	Repeat int

	// ProbeRate is how many /healthz requests per second a separate open
	// loop sends during each run, each on a new connection, to measure
	// whether the server's IO stays responsive while /data saturates it; 0
	// disables the probe.
	ProbeRate float64
	// ProbeTimeout bounds each probe request.
	ProbeTimeout time.Duration

	// Progress, if set, receives a line as each run starts.
	Progress io.Writer
	// Live, if set, receives the built-in generator's per-second status
	// line; pass a terminal only.
	Live io.Writer
}

// DefaultSweepConfig returns the sweep the project documents: pools 1, 2,
// 3, 4 and 8 in offload mode plus inline mode, 32 keep-alive connections,
// 5 s each after 1 s warmup, GOMAXPROCS set to the number of CPUs.
func DefaultSweepConfig() SweepConfig {
	return SweepConfig{
		Server:       "bin/server",
		Procs:        runtime.NumCPU(),
		Pools:        []int{1, 2, 3, 4, 8},
		Modes:        []string{ModeOffload, ModeInline},
		Engines:      []Engine{Builtin},
		Connections:  32,
		Duration:     5 * time.Second,
		Warmup:       time.Second,
		Timeout:      10 * time.Second,
		WrkThreads:   1,
		Repeat:       1,
		ProbeRate:    20,
		ProbeTimeout: 5 * time.Second,
	}
}

// Validate reports the first problem with c's values, as one line saying
// what to change. It does not look at the machine; Preflight does.
func (c *SweepConfig) Validate() error {
	if c.Procs < 1 {
		return fmt.Errorf("GOMAXPROCS (procs) must be >= 1 (got %d)", c.Procs)
	}
	if len(c.Modes) == 0 {
		return errors.New("no modes: give offload, inline or both")
	}
	seen := map[string]bool{}
	for _, m := range c.Modes {
		if m != ModeOffload && m != ModeInline {
			return fmt.Errorf("unknown mode %q: want offload or inline", m)
		}
		if seen[m] {
			return fmt.Errorf("mode %q given twice", m)
		}
		seen[m] = true
	}
	if seen[ModeOffload] && len(c.Pools) == 0 {
		return errors.New("no pool sizes for offload mode")
	}
	for i, p := range c.Pools {
		if p < 1 {
			return fmt.Errorf("pool size must be >= 1 (got %d)", p)
		}
		if slices.Contains(c.Pools[:i], p) {
			return fmt.Errorf("pool size %d given twice", p)
		}
	}
	if len(c.Engines) == 0 {
		return errors.New("no engines: give builtin, wrk or both")
	}
	for i, e := range c.Engines {
		if e != Builtin && e != Wrk {
			return fmt.Errorf("unknown engine %q: want builtin or wrk", e)
		}
		if slices.Contains(c.Engines[:i], e) {
			return fmt.Errorf("engine %q given twice", e)
		}
	}
	if c.Connections < 1 {
		return fmt.Errorf("connections must be >= 1 (got %d)", c.Connections)
	}
	if c.Repeat < 1 {
		return fmt.Errorf("repeat must be >= 1 (got %d)", c.Repeat)
	}
	if c.Duration <= 0 {
		return fmt.Errorf("duration must be > 0 (got %v)", c.Duration)
	}
	if c.Warmup < 0 {
		return fmt.Errorf("warmup must be >= 0 (got %v)", c.Warmup)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout must be > 0 (got %v)", c.Timeout)
	}
	if c.Work < 0 {
		return fmt.Errorf("work must be >= 0 (got %v)", c.Work)
	}
	if c.ProbeRate < 0 || math.IsInf(c.ProbeRate, 0) || math.IsNaN(c.ProbeRate) {
		return fmt.Errorf("healthz probe rate must be >= 0 req/s (got %v)", c.ProbeRate)
	}
	if c.ProbeRate > 0 && c.ProbeTimeout <= 0 {
		return fmt.Errorf("healthz probe timeout must be > 0 (got %v)", c.ProbeTimeout)
	}
	if slices.Contains(c.Engines, Wrk) {
		if c.Duration%time.Second != 0 {
			return fmt.Errorf("duration %v: wrk takes whole seconds only", c.Duration)
		}
		if c.WrkThreads < 1 {
			return fmt.Errorf("wrk threads must be >= 1 (got %d)", c.WrkThreads)
		}
		if c.Connections%c.WrkThreads != 0 {
			return fmt.Errorf("connections (%d) must be a multiple of wrk threads (%d): wrk gives each thread connections/threads and drops the rest",
				c.Connections, c.WrkThreads)
		}
	}
	for _, a := range c.ServerArgs {
		switch flagName(a) {
		case "mode", "pool", "work":
			return fmt.Errorf("server flag %s is set by the sweep: use its modes, pools and work settings instead", a)
		}
	}
	return nil
}

// Preflight checks that what c needs is installed: the server binary and,
// if c uses it, wrk. Its error is one line saying how to fix it.
func (c *SweepConfig) Preflight() error {
	if err := CheckServerBinary(c.Server); err != nil {
		return err
	}
	if slices.Contains(c.Engines, Wrk) {
		if _, err := exec.LookPath("wrk"); err != nil {
			return wrk.ErrNotInstalled
		}
	}
	return nil
}

// SweepSettings records a sweep's configuration in its results. The fields
// are SweepConfig's, with durations in seconds (the names ending in S).
type SweepSettings struct {
	Server      string   `json:"server"`
	ServerArgs  []string `json:"server_args,omitempty"`
	Procs       int      `json:"gomaxprocs"`
	Pools       []int    `json:"pools"`
	Modes       []string `json:"modes"`
	Engines     []Engine `json:"engines"`
	Connections int      `json:"connections"`
	Close       bool     `json:"close"`
	DurationS   float64  `json:"duration_s"`
	WarmupS     float64  `json:"warmup_s"`
	TimeoutS    float64  `json:"timeout_s"`
	// Work is the server's -work, "" for the server's default.
	Work       string  `json:"work,omitempty"`
	WrkThreads int     `json:"wrk_threads,omitempty"`
	Repeat     int     `json:"repeat"`
	ProbeRate  float64 `json:"healthz_probe_rate"`
}

// Row is one run of a sweep: one mode, pool size and engine.
type Row struct {
	Mode   string `json:"mode"`
	Engine Engine `json:"engine"`
	// Pool is the worker pool size; 0 in inline mode, which has no pool.
	Pool int `json:"pool"`
	// Run numbers the repetitions of a configuration from 1. In a
	// summary row it is 0 and Runs is the number of runs summarised.
	Run  int `json:"run,omitempty"`
	Runs int `json:"runs,omitempty"`
	// ThroughputMin and ThroughputMax are the range of Throughput over
	// the runs of a summary row.
	ThroughputMin float64 `json:"req_per_s_min,omitempty"`
	ThroughputMax float64 `json:"req_per_s_max,omitempty"`

	// Requests is the number of /data responses in the measured time,
	// whatever their status.
	Requests int64 `json:"requests"`
	// Throughput is Requests per measured second.
	Throughput float64 `json:"req_per_s"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	// P999Ms is nil for wrk, whose --latency output stops at p99.
	P999Ms *float64 `json:"p99_9_ms"`

	// HealthzP99Ms is the p99 latency of the /healthz probe, nil when the
	// probe was off or got no answer.
	HealthzP99Ms *float64 `json:"healthz_p99_ms"`
	// HealthzFailed counts probe requests that got no 200.
	HealthzFailed int64 `json:"healthz_failed"`

	// Status503 counts 503 responses (busy). wrk cannot tell status codes
	// apart, so for wrk it counts every response with status >= 400.
	Status503 int64 `json:"status_503"`
	// Errors counts requests without a response (timeouts, connect
	// errors, resets) plus responses with another non-2xx status.
	Errors int64 `json:"errors"`

	// Accepted, Completed and Rejected are the server's counters of
	// accepted connections and of completed and rejected jobs over the
	// run, warmup and probe included, scraped from /metrics before SIGTERM.
	Accepted  int64 `json:"accepted"`
	Completed int64 `json:"completed"`
	Rejected  int64 `json:"rejected"`

	// ServerCPUMsPerRequest is the server's CPU time per completed job over
	// the run: the real cost of a request, which exceeds -work by the
	// HTTP and scheduling overhead and by the slowdown of sharing cores.
	ServerCPUMsPerRequest float64 `json:"server_cpu_ms_per_request"`
	// ServerCPUCores is the server's CPU time divided by the run's wall
	// time: how many cores it kept busy.
	ServerCPUCores float64 `json:"server_cpu_cores"`
	// GeneratorCPUCores is the same for the load generator: this process
	// for the built-in engine (probe included), wrk for wrk. On a small
	// machine it is CPU the server did not get.
	GeneratorCPUCores float64 `json:"generator_cpu_cores"`
	// OtherCPUCores is the CPU the rest of the machine used over the run:
	// other processes and time stolen by the hypervisor. Well above zero,
	// it marks a run disturbed by noise.
	OtherCPUCores float64 `json:"other_cpu_cores"`

	// ElapsedS is the measured time in seconds.
	ElapsedS float64 `json:"elapsed_s"`
	// WrkOutput is wrk's raw output, for the record.
	WrkOutput string `json:"wrk_output,omitempty"`
}

// SweepResult is what a sweep measured.
type SweepResult struct {
	Settings SweepSettings `json:"settings"`
	Machine  Machine       `json:"machine"`
	Started  time.Time     `json:"started"`
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
	pool := strconv.Itoa(r.pool)
	if r.mode == ModeInline {
		pool = "-"
	}
	l := fmt.Sprintf("mode=%s pool=%s engine=%s", r.mode, pool, r.engine)
	if r.repeats > 1 {
		l += fmt.Sprintf(" repeat=%d/%d", r.run, r.repeats)
	}
	return l
}

// plan lists the runs in order: each repetition goes through modes as
// given and pool sizes in increasing order, with every engine back to back
// for each configuration. Repetitions are the outer loop so that a slow
// drift of the machine's speed, common on shared machines, spreads over
// every configuration instead of favouring the ones measured first.
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
			if m == ModeInline {
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

// plannedDuration is how long one run is expected to take.
func (c *SweepConfig) plannedDuration(e Engine) time.Duration {
	warmup := c.Warmup
	if e == Wrk {
		warmup = ceilSecond(warmup)
	}
	return warmup + c.Duration + runOverhead
}

// Sweep runs every configuration of c: for each it starts the server, loads
// /data in a closed loop while probing /healthz, scrapes the server's
// counters, and stops the server, requiring a clean exit. It stops at the
// first failure and returns the rows measured until then with the error.
func Sweep(ctx context.Context, c SweepConfig) (*SweepResult, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if err := c.Preflight(); err != nil {
		return nil, err
	}
	res := &SweepResult{
		Settings: c.settings(),
		Machine:  DescribeMachine(ctx),
		Started:  time.Now(),
	}
	runs := c.plan()
	planned := make([]PlannedRun, len(runs))
	for i, r := range runs {
		planned[i] = PlannedRun{Label: r.label(), Duration: c.plannedDuration(r.engine)}
	}
	progress := NewProgress(c.Progress, planned)
	for i, r := range runs {
		progress.Start(i)
		row, err := c.runOne(ctx, r)
		if err != nil {
			return res, fmt.Errorf("sweep run %d of %d (%s): %w", i+1, len(runs), r.label(), err)
		}
		res.Rows = append(res.Rows, row)
		res.Summary = Summarize(res.Rows)
	}
	return res, nil
}

func (c *SweepConfig) settings() SweepSettings {
	s := SweepSettings{
		Server:      c.Server,
		ServerArgs:  c.ServerArgs,
		Procs:       c.Procs,
		Pools:       slices.Sorted(slices.Values(c.Pools)),
		Modes:       c.Modes,
		Engines:     c.Engines,
		Connections: c.Connections,
		Close:       c.Close,
		DurationS:   c.Duration.Seconds(),
		WarmupS:     c.Warmup.Seconds(),
		TimeoutS:    c.Timeout.Seconds(),
		ProbeRate:   c.ProbeRate,
		Repeat:      c.Repeat,
	}
	if !slices.Contains(c.Modes, ModeOffload) {
		s.Pools = nil
	}
	if c.Work > 0 {
		s.Work = c.Work.String()
	}
	if slices.Contains(c.Engines, Wrk) {
		s.WrkThreads = c.WrkThreads
	}
	return s
}

// serverArgs are the server flags of one run. The sweep measures the pool
// under a closed loop, whose clients resend the moment they are answered:
// the static queue holds them, where the adaptive policy would refuse the
// excess and the clients would turn its refusals into a loop of instant
// 503s. So offload mode runs -overload static; make overload-experiment
// compares the policies.
func (c *SweepConfig) serverArgs(r sweepRun) []string {
	args := []string{"-mode", r.mode}
	if r.mode == ModeOffload {
		args = append(args, "-overload", "static", "-pool", strconv.Itoa(r.pool))
	}
	if c.Work > 0 {
		args = append(args, "-work", c.Work.String())
	}
	return append(args, c.ServerArgs...)
}

// load is what an engine measured.
type load struct {
	requests   int64
	throughput float64
	p50, p99   float64
	p999       *float64
	status503  int64
	errors     int64
	elapsed    float64
	genCPU     float64 // generator CPU seconds over warmup and measurement
	wall       float64 // wall seconds of warmup and measurement
	raw        string  // wrk's output
}

// runOne measures one configuration on a fresh server.
func (c *SweepConfig) runOne(ctx context.Context, r sweepRun) (Row, error) {
	srv, err := StartServer(ctx, ServerConfig{Binary: c.Server, Args: c.serverArgs(r), Procs: c.Procs})
	if err != nil {
		return Row{}, err
	}
	row, err := c.measure(ctx, srv, r)
	if err != nil {
		srv.Kill()
		return Row{}, err
	}
	// A clean drain is part of the result: a server that cannot stop
	// cleanly after a run has a bug the numbers would hide.
	if err := srv.Stop(context.WithoutCancel(ctx)); err != nil {
		return Row{}, err
	}
	return row, nil
}

// measure runs the load and the probe against srv and fills in a row.
func (c *SweepConfig) measure(ctx context.Context, srv *ServerProcess, r sweepRun) (Row, error) {
	before, err := snapshotServer(ctx, srv)
	if err != nil {
		return Row{}, err
	}
	warmup := c.Warmup
	if r.engine == Wrk {
		warmup = ceilSecond(warmup)
	}

	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	probe := startProbe(loadCtx, probeConfig{
		url: srv.URL("/healthz"), rate: c.ProbeRate, warmup: warmup, duration: c.Duration, timeout: c.ProbeTimeout,
	})
	var l load
	switch r.engine {
	case Wrk:
		l, err = c.runWrk(loadCtx, srv)
	default:
		l, err = c.runBuiltin(loadCtx, srv)
	}
	if err != nil {
		cancel()
		probe.wait()
		return Row{}, err
	}
	pr, probeErr := probe.wait()
	if probeErr != nil {
		return Row{}, probeErr
	}
	select {
	case <-srv.Exited():
		return Row{}, srv.failure("exited during the run", srv.exitErr())
	default:
	}
	after, err := snapshotServer(ctx, srv)
	if err != nil {
		return Row{}, err
	}

	row := Row{
		Mode: r.mode, Engine: r.engine, Pool: r.pool, Run: r.run,
		Requests: l.requests, Throughput: l.throughput, P50Ms: l.p50, P99Ms: l.p99, P999Ms: l.p999,
		Status503: l.status503, Errors: l.errors, ElapsedS: l.elapsed, WrkOutput: l.raw,
	}
	if pr != nil {
		row.HealthzFailed = pr.Requests - pr.Outcomes.Status[200]
		if pr.Answered > 0 {
			row.HealthzP99Ms = ptr(pr.Latency.P99)
		}
	}
	d := after.sub(before)
	row.Accepted, row.Completed, row.Rejected = d.accepted, d.completed, d.rejected
	if d.completed > 0 {
		row.ServerCPUMsPerRequest = d.cpu * 1e3 / float64(d.completed)
	}
	if d.wall > 0 {
		row.ServerCPUCores = d.cpu / d.wall
	}
	if l.wall > 0 {
		row.GeneratorCPUCores = l.genCPU / l.wall
	}
	if d.wall > 0 {
		row.OtherCPUCores = d.other / d.wall
	}
	return row, nil
}

// serverSnapshot is the server's counters and the CPU time of the server,
// this process, its waited-for children (wrk) and the whole machine at one
// moment.
type serverSnapshot struct {
	at                            time.Time
	cpu, self, children, machine  float64
	accepted, completed, rejected float64
}

type serverDelta struct {
	wall, cpu, other              float64
	accepted, completed, rejected int64
}

func snapshotServer(ctx context.Context, srv *ServerProcess) (serverSnapshot, error) {
	m, err := srv.Metrics(ctx)
	if err != nil {
		return serverSnapshot{}, err
	}
	s := serverSnapshot{
		at:        time.Now(),
		accepted:  m["offload_connections_accepted_total"],
		completed: m["offload_jobs_completed_total"],
		rejected:  m["offload_jobs_rejected_total"],
	}
	if s.cpu, err = srv.CPUSeconds(); err != nil {
		return serverSnapshot{}, err
	}
	if s.self, err = selfCPU(); err != nil {
		return serverSnapshot{}, err
	}
	if s.children, err = childrenCPU(); err != nil {
		return serverSnapshot{}, err
	}
	if s.machine, err = machineBusySeconds(); err != nil {
		return serverSnapshot{}, err
	}
	return s, nil
}

func (s serverSnapshot) sub(before serverSnapshot) serverDelta {
	d := serverDelta{
		wall:      s.at.Sub(before.at).Seconds(),
		cpu:       s.cpu - before.cpu,
		accepted:  int64(s.accepted - before.accepted),
		completed: int64(s.completed - before.completed),
		rejected:  int64(s.rejected - before.rejected),
	}
	// What neither the server nor the generators used. The kernel counts
	// in 10 ms ticks, so a quiet machine can come out a tick below zero.
	d.other = max(0, (s.machine-before.machine)-d.cpu-(s.self-before.self)-(s.children-before.children))
	return d
}

// runBuiltin drives /data with offload/loadtest in a closed loop.
func (c *SweepConfig) runBuiltin(ctx context.Context, srv *ServerProcess) (load, error) {
	cpu0, err := selfCPU()
	if err != nil {
		return load{}, err
	}
	start := time.Now()
	res, err := loadtest.Run(ctx, loadtest.Config{
		URL:         srv.URL("/data"),
		Connections: c.Connections,
		Close:       c.Close,
		Duration:    c.Duration,
		Warmup:      c.Warmup,
		Timeout:     c.Timeout,
		Progress:    c.Live,
	})
	if err != nil {
		return load{}, fmt.Errorf("built-in load generator: %w", err)
	}
	if res.Interrupted {
		return load{}, fmt.Errorf("built-in load generator: %w", context.Cause(ctx))
	}
	cpu1, err := selfCPU()
	if err != nil {
		return load{}, err
	}
	l := load{
		requests:   res.Answered,
		throughput: res.Throughput,
		p50:        res.Latency.P50,
		p99:        res.Latency.P99,
		p999:       ptr(res.Latency.P999),
		status503:  res.Outcomes.Status[503],
		errors:     res.Outcomes.Errors(),
		elapsed:    res.ElapsedSeconds,
		genCPU:     cpu1 - cpu0,
		wall:       time.Since(start).Seconds(),
	}
	for code, n := range res.Outcomes.Status {
		if code != 503 && (code < 200 || code > 299) {
			l.errors += n
		}
	}
	return l, nil
}

// runWrk drives /data with wrk: a discarded warmup run, then the measured
// one.
func (c *SweepConfig) runWrk(ctx context.Context, srv *ServerProcess) (load, error) {
	opts := wrk.Options{
		Threads:     c.WrkThreads,
		Connections: c.Connections,
		Close:       c.Close,
		Latency:     true,
		Timeout:     ceilSecond(c.Timeout),
		URL:         srv.URL("/data"),
	}
	cpu0, err := childrenCPU()
	if err != nil {
		return load{}, err
	}
	start := time.Now()
	if c.Warmup > 0 {
		warm := opts
		warm.Duration = ceilSecond(c.Warmup)
		if _, _, err := wrk.Run(ctx, warm); err != nil {
			return load{}, fmt.Errorf("wrk warmup: %w", err)
		}
	}
	opts.Duration = c.Duration
	res, out, err := wrk.Run(ctx, opts)
	if err != nil {
		return load{}, err
	}
	// wrk has been waited for, so its CPU time is in the children's usage.
	cpu1, err := childrenCPU()
	if err != nil {
		return load{}, err
	}
	p50, _ := res.Percentile(50)
	p99, _ := res.Percentile(99)
	return load{
		requests:   res.Requests,
		throughput: res.RequestsPerSec,
		p50:        durationMs(p50),
		p99:        durationMs(p99),
		status503:  res.Non2xx3xx,
		errors:     res.SocketErrors.Total(),
		elapsed:    res.Runtime.Seconds(),
		genCPU:     cpu1 - cpu0,
		wall:       time.Since(start).Seconds(),
		raw:        out,
	}, nil
}

// probeConfig is a /healthz probe.
type probeConfig struct {
	url                       string
	rate                      float64 // 0: no probe
	warmup, duration, timeout time.Duration
}

// probe is a running /healthz probe.
type probe struct {
	done chan struct{}
	res  *loadtest.Result
	err  error
}

// startProbe runs an open loop against /healthz with a new connection per
// request, so that each probe also goes through the accept path, in its own
// goroutine. Call wait exactly once.
func startProbe(ctx context.Context, pc probeConfig) *probe {
	p := &probe{done: make(chan struct{})}
	if pc.rate <= 0 {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		res, err := loadtest.Run(ctx, loadtest.Config{
			URL:      pc.url,
			Rates:    []float64{pc.rate},
			Close:    true,
			Warmup:   pc.warmup,
			Duration: pc.duration,
			Timeout:  pc.timeout,
		})
		if err != nil {
			p.err = fmt.Errorf("healthz probe: %w", err)
			return
		}
		p.res = res
	}()
	return p
}

// wait returns the probe's result, nil if it was disabled.
func (p *probe) wait() (*loadtest.Result, error) {
	<-p.done
	return p.res, p.err
}

// selfCPU is this process's CPU time in seconds.
func selfCPU() (float64, error) { return rusageCPU(syscall.RUSAGE_SELF) }

// childrenCPU is the CPU time in seconds of this process's children that
// have exited and been waited for.
func childrenCPU() (float64, error) { return rusageCPU(syscall.RUSAGE_CHILDREN) }

func rusageCPU(who int) (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(), nil
}

func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

func durationMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ptr[T any](v T) *T { return &v }
