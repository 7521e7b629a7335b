package main

import (
	"context"
	"time"

	"offload/config"
	"offload/loadtest/experiment"
)

const sweepUsage = `Measures /data throughput and latency against the worker pool size. For each
pool size in offload mode, and once for inline mode (which has no pool), it
starts the server with GOMAXPROCS=-procs, waits for /healthz, warms up, loads
/data in a closed loop of -c connections while probing /healthz on the side,
scrapes the server's counters, and stops it with SIGTERM, requiring exit
status 0. With several engines each configuration is measured by each engine
back to back, and a table compares their request rates. On a noisy machine,
-repeat runs the whole sweep several times over, so that a drift of the
machine's speed spreads over every configuration, and reports medians.

Prints a markdown table and writes results.csv (every run), summary.csv,
results.json, table.md and sweep.png into -out/NAME-TIMESTAMP/.
`

func sweepCommand(ctx context.Context, c *cmdline) error {
	cfg := experiment.DefaultSweepConfig()
	c.Var(positiveInts(&cfg.Pools), "pools", "worker pool `sizes` for offload mode, comma-separated")
	c.Var(choices(&cfg.Modes, config.ModeOffload, config.ModeInline), "modes",
		"server `modes`, comma-separated: offload, inline")
	engines := choices(&cfg.Engines, string(experiment.Builtin), string(experiment.Wrk))
	c.Var(engines, "engines", "load `generators`, comma-separated: builtin, wrk")
	c.IntVar(&cfg.Procs, "procs", cfg.Procs, "the server's GOMAXPROCS (the default is this machine's CPU count)")
	c.IntVar(&cfg.Connections, "c", cfg.Connections, "closed-loop `connections`")
	c.DurationVar(&cfg.Duration, "d", cfg.Duration, "measured duration of each run (whole seconds with wrk)")
	c.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup,
		"load before each measurement, not recorded (wrk rounds up to seconds)")
	c.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on each request")
	work := c.Duration("work", 4*time.Millisecond, "CPU time per /data request, the server's -work")
	c.BoolVar(&cfg.Close, "close", false, "one request per connection (\"Connection: close\") instead of keep-alive")
	c.IntVar(&cfg.WrkThreads, "wrk-threads", cfg.WrkThreads, "wrk's -t `threads`; -c must be a multiple")
	c.IntVar(&cfg.Repeat, "repeat", cfg.Repeat,
		"run the whole sweep this many `times` over; the table and chart show medians")
	c.Float64Var(&cfg.ProbeRate, "probe-rate", cfg.ProbeRate,
		"/healthz probes per second during each run, each on a new connection (`rate`; 0 disables)")
	c.StringVar(&cfg.Server, "server", cfg.Server, "server `binary`")
	serverArgs := c.String("server-args", "",
		"extra server `flags` for every run, space-separated, e.g. \"-queue 128\" (not -mode, -pool, -overload "+
			"or -work, which the sweep sets)")
	c.results("sweep")
	if err := c.parse(sweepUsage); err != nil {
		return err
	}
	if err := check(&cfg, &cfg.Settings, *serverArgs, *work, "mode", "pool", "overload", "work"); err != nil {
		return err
	}
	cfg.Progress = c.stderr
	cfg.Live = c.live()

	return c.runExperiment(func() (resultFiles, string, error) {
		res, err := experiment.Sweep(ctx, cfg)
		if res == nil || len(res.Rows) == 0 {
			return nil, "", err
		}
		summary := res.Table()
		if cmp := res.Comparison(); cmp != "" {
			summary += "\nwrk against the built-in generator (ratio of req/s):\n\n" + cmp
		}
		return res, summary, err
	})
}
