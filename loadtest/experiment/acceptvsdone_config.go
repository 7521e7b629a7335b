package experiment

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"offload/config"
	"offload/loadtest/observe"
	"offload/overload"
)

// AcceptVsDoneConfig describes the accept-versus-done experiment: for each
// mode, a server under an open-loop rate of one request per connection
// that rises in steps from below to well above its capacity. Start from
// DefaultAcceptVsDoneConfig, whose GOMAXPROCS mirror the original's
// threads: offload mode an acceptor and one worker, inline mode one thread
// doing both, so that the modes differ only in where the waiting happens.
// Its JSON form has durations in nanoseconds.
type AcceptVsDoneConfig struct {
	// Server is the server executable.
	Server string `json:"server"`
	// Settings are the server's settings, Work the CPU time per /data
	// request; the experiment sets Mode, Pool, Overload and StatsInterval,
	// and observe.Start Addr, LogFormat and MetricsAddr.
	Settings config.Config `json:"server_settings"`
	// Modes are the modes to run, in order.
	Modes []string `json:"modes"`
	// OffloadProcs and OffloadPool are GOMAXPROCS and -pool in offload
	// mode; InlineProcs is GOMAXPROCS in inline mode.
	OffloadProcs int `json:"offload_gomaxprocs"`
	OffloadPool  int `json:"offload_pool"`
	InlineProcs  int `json:"inline_gomaxprocs"`

	// Rates are the offered request rates, one per step. When empty, each
	// mode's capacity is measured first (a closed loop of
	// CapacityConnections, one request per connection, for CapacityTime)
	// and the rates are RateFactors times the larger capacity.
	Rates               []float64     `json:"rates,omitempty"`
	RateFactors         []float64     `json:"rate_factors"`
	CapacityTime        time.Duration `json:"capacity_time"`
	CapacityConnections int           `json:"capacity_connections"`

	// Step is how long each rate is offered.
	Step time.Duration `json:"step"`
	// MaxInflight caps the open loop's outstanding requests; sends due
	// beyond it are counted as missed.
	MaxInflight int `json:"max_inflight"`
	// Timeout bounds each request.
	Timeout time.Duration `json:"timeout"`
	// ScrapeInterval is the resolution of the timelines: the server's
	// -stats-interval, and the time between snapshots and scrapes.
	ScrapeInterval time.Duration `json:"scrape_interval"`
	// ProbeRate is the /healthz probe's rate, step by step (0 disables it);
	// ProbeTimeout bounds each probe.
	ProbeRate    float64       `json:"healthz_probe_rate"`
	ProbeTimeout time.Duration `json:"healthz_probe_timeout"`

	// Progress, if set, receives a line as each run starts.
	Progress io.Writer `json:"-"`
}

// DefaultAcceptVsDoneConfig returns the experiment as the project documents
// it: offload (GOMAXPROCS=2, one worker) and inline (GOMAXPROCS=1), rates
// of 0.5, 1, 1.5, 2 and 3 times the measured capacity for 5 s each.
func DefaultAcceptVsDoneConfig() AcceptVsDoneConfig {
	return AcceptVsDoneConfig{
		Server: "bin/server", Settings: config.Default(),
		Modes:        []string{config.ModeOffload, config.ModeInline},
		OffloadProcs: 2, OffloadPool: 1, InlineProcs: 1,
		RateFactors:  []float64{0.5, 1, 1.5, 2, 3},
		CapacityTime: 2 * time.Second, CapacityConnections: 8,
		Step: 5 * time.Second, MaxInflight: 1000, Timeout: 10 * time.Second, ScrapeInterval: time.Second,
		ProbeRate: 20, ProbeTimeout: 5 * time.Second,
	}
}

// Validate reports every problem with c's values, one per line.
func (c *AcceptVsDoneConfig) Validate() error {
	var cs checks
	cs.check(len(c.Modes) > 0, "no modes: give offload, inline or both")
	oneOf(&cs, "mode", c.Modes, config.ModeOffload, config.ModeInline)
	cs.check(c.OffloadProcs >= 1 && c.InlineProcs >= 1,
		"GOMAXPROCS must be >= 1 (offload %d, inline %d)", c.OffloadProcs, c.InlineProcs)
	cs.check(c.OffloadPool >= 1, "offload pool size must be >= 1 (got %d)", c.OffloadPool)
	cs.server(c.Settings)
	for _, r := range c.Rates {
		cs.check(r > 0 && !math.IsInf(r, 1), "rate must be > 0 req/s (got %v)", r)
	}
	if len(c.Rates) == 0 {
		cs.check(len(c.RateFactors) > 0, "give rates, or rate factors to multiply the measured capacity by")
		for _, f := range c.RateFactors {
			cs.check(f > 0 && !math.IsInf(f, 1), "rate factor must be > 0 (got %v)", f)
		}
		cs.check(c.CapacityTime > 0 && c.CapacityConnections >= 1,
			"capacity measurement needs a time > 0 and connections >= 1 (got %v, %d)", c.CapacityTime, c.CapacityConnections)
	}
	cs.check(c.Step > 0, "step must be > 0 (got %v)", c.Step)
	cs.check(c.MaxInflight >= 1, "max in-flight must be >= 1 (got %d)", c.MaxInflight)
	cs.check(c.Timeout > 0, "timeout must be > 0 (got %v)", c.Timeout)
	cs.check(c.ScrapeInterval > 0, "scrape interval must be > 0 (got %v)", c.ScrapeInterval)
	cs.probe(c.ProbeRate, c.ProbeTimeout)
	return errors.Join(cs...)
}

// Preflight checks that the server binary exists.
func (c *AcceptVsDoneConfig) Preflight() error { return observe.CheckBinary(c.Server) }

// procs returns the GOMAXPROCS and pool size of a mode.
func (c *AcceptVsDoneConfig) procs(mode string) (procs, pool int) {
	if mode == config.ModeInline {
		return c.InlineProcs, 0
	}
	return c.OffloadProcs, c.OffloadPool
}

// serverSettings are the server's settings in one mode; offload mode keeps
// the original's static queue.
func (c *AcceptVsDoneConfig) serverSettings(mode string) config.Config {
	s := c.Settings
	s.Mode, s.StatsInterval = mode, c.ScrapeInterval
	if mode == config.ModeOffload {
		s.Overload, s.Pool = overload.Static.String(), c.OffloadPool
	}
	return s
}

func (c *AcceptVsDoneConfig) label(mode string) string {
	procs, pool := c.procs(mode)
	if mode == config.ModeInline {
		return fmt.Sprintf("mode=inline GOMAXPROCS=%d", procs)
	}
	return fmt.Sprintf("mode=offload GOMAXPROCS=%d pool=%d", procs, pool)
}
