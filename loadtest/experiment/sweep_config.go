package experiment

import (
	"errors"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"time"

	"offload/config"
	"offload/loadtest/observe"
	"offload/loadtest/wrk"
)

// Engine names a load generator.
type Engine string

// The load generators a sweep can use.
const (
	Builtin Engine = "builtin" // offload/loadtest, in this process
	Wrk     Engine = "wrk"     // the wrk executable
)

// SweepConfig describes a pool-size sweep. Start from DefaultSweepConfig.
// Its JSON form has durations in nanoseconds.
type SweepConfig struct {
	// Server is the server executable.
	Server string `json:"server"`
	// Settings are the server's settings for every run, Work the CPU time
	// per /data request; the sweep sets Mode, Pool and Overload, and
	// observe.Start Addr, LogFormat and MetricsAddr.
	Settings config.Config `json:"server_settings"`
	// Procs is the server's GOMAXPROCS.
	Procs int `json:"gomaxprocs"`
	// Pools are the worker pool sizes to measure in offload mode.
	Pools []int `json:"pools"`
	// Modes are the server modes to measure; inline mode, which has no
	// pool, runs once per engine.
	Modes []string `json:"modes"`
	// Engines are the load generators; with several, each configuration is
	// measured by each back to back.
	Engines []Engine `json:"engines"`

	// Connections is the closed loop's number of connections.
	Connections int `json:"connections"`
	// Close sends "Connection: close": one request per connection.
	Close bool `json:"close"`
	// Duration is the measured time of each run, Warmup the unrecorded
	// load before it (0 for none) and Timeout the bound on each request;
	// wrk takes Duration in whole seconds and rounds the others up.
	Duration time.Duration `json:"duration"`
	Warmup   time.Duration `json:"warmup"`
	Timeout  time.Duration `json:"timeout"`
	// WrkThreads is wrk's -t; Connections must be a multiple of it.
	WrkThreads int `json:"wrk_threads"`
	// Repeat is how many times the whole sweep is run over; the table and
	// chart show the medians.
	Repeat int `json:"repeat"`

	// ProbeRate is the rate of an open loop of /healthz requests beside the
	// load, each on a new connection (0 disables it); ProbeTimeout bounds
	// each.
	ProbeRate    float64       `json:"healthz_probe_rate"`
	ProbeTimeout time.Duration `json:"healthz_probe_timeout"`

	// Progress, if set, receives a line as each run starts.
	Progress io.Writer `json:"-"`
}

// DefaultSweepConfig returns the sweep the project documents: pools 1, 2,
// 3, 4 and 8 in offload mode plus inline mode, 32 keep-alive connections,
// 5 s each after 1 s warmup, GOMAXPROCS set to the number of CPUs.
func DefaultSweepConfig() SweepConfig {
	return SweepConfig{
		Server: "bin/server", Settings: config.Default(), Procs: runtime.NumCPU(),
		Pools:       []int{1, 2, 3, 4, 8},
		Modes:       []string{config.ModeOffload, config.ModeInline},
		Engines:     []Engine{Builtin},
		Connections: 32, Duration: 5 * time.Second, Warmup: time.Second, Timeout: 10 * time.Second,
		WrkThreads: 1, Repeat: 1, ProbeRate: 20, ProbeTimeout: 5 * time.Second,
	}
}

// Validate reports every problem with c's values, one per line.
func (c *SweepConfig) Validate() error {
	var cs checks
	cs.check(c.Procs >= 1, "GOMAXPROCS (procs) must be >= 1 (got %d)", c.Procs)
	cs.check(len(c.Modes) > 0, "no modes: give offload, inline or both")
	oneOf(&cs, "mode", c.Modes, config.ModeOffload, config.ModeInline)
	cs.check(!slices.Contains(c.Modes, config.ModeOffload) || len(c.Pools) > 0, "no pool sizes for offload mode")
	for i, p := range c.Pools {
		cs.check(p >= 1, "pool size must be >= 1 (got %d)", p)
		cs.check(!slices.Contains(c.Pools[:i], p), "pool size %d given twice", p)
	}
	cs.check(len(c.Engines) > 0, "no engines: give builtin, wrk or both")
	oneOf(&cs, "engine", c.Engines, Builtin, Wrk)
	cs.check(c.Connections >= 1, "connections must be >= 1 (got %d)", c.Connections)
	cs.check(c.Repeat >= 1, "repeat must be >= 1 (got %d)", c.Repeat)
	cs.check(c.Duration > 0, "duration must be > 0 (got %v)", c.Duration)
	cs.check(c.Warmup >= 0, "warmup must be >= 0 (got %v)", c.Warmup)
	cs.check(c.Timeout > 0, "timeout must be > 0 (got %v)", c.Timeout)
	cs.server(c.Settings)
	cs.probe(c.ProbeRate, c.ProbeTimeout)
	if slices.Contains(c.Engines, Wrk) {
		cs.check(c.Duration%time.Second == 0, "duration %v: wrk takes whole seconds only", c.Duration)
		cs.check(c.WrkThreads >= 1, "wrk threads must be >= 1 (got %d)", c.WrkThreads)
		cs.check(c.WrkThreads < 1 || c.Connections%c.WrkThreads == 0,
			"connections (%d) must be a multiple of wrk threads (%d): wrk gives each thread connections/threads and drops the rest",
			c.Connections, c.WrkThreads)
	}
	return errors.Join(cs...)
}

// Preflight checks that the server binary and, if c uses it, wrk are
// installed.
func (c *SweepConfig) Preflight() error {
	if err := observe.CheckBinary(c.Server); err != nil {
		return err
	}
	if slices.Contains(c.Engines, Wrk) {
		if _, err := exec.LookPath("wrk"); err != nil {
			return wrk.ErrNotInstalled
		}
	}
	return nil
}
