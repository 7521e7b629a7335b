package main

import (
	"context"
	"time"

	"offload/config"
	"offload/loadtest/experiment"
)

const acceptVsDoneUsage = `Reproduces the figure of the blog post this project ports: for each mode, a
fresh server under an open-loop rate of one request per connection that rises
in equal steps from below to well above capacity, with the server's
connections accepted/s, closed/s, jobs completed/s, rejected/s, queue depth
and open connections scraped throughout, and /healthz probed step by step.

Unless -rates is given, each mode's capacity is measured first (closed loop,
one request per connection) and the rates are -factors times the larger one.
The defaults mirror the original's threads: offload with GOMAXPROCS=2 and one
worker (an IO thread plus one worker thread), inline with GOMAXPROCS=1 (one
thread doing both).

Prints the per-step table and writes results.json, series.csv, steps.csv,
table.md and accept-vs-done.png into -out/NAME-TIMESTAMP/.
`

func acceptVsDoneCommand(ctx context.Context, c *cmdline) error {
	cfg := experiment.DefaultAcceptVsDoneConfig()
	c.Var(choices(&cfg.Modes, config.ModeOffload, config.ModeInline), "modes",
		"server `modes` in the order run, comma-separated: offload, inline")
	c.IntVar(&cfg.OffloadProcs, "offload-procs", cfg.OffloadProcs, "GOMAXPROCS of the offload-mode server")
	c.IntVar(&cfg.OffloadPool, "offload-pool", cfg.OffloadPool, "worker pool `size` of the offload-mode server")
	c.IntVar(&cfg.InlineProcs, "inline-procs", cfg.InlineProcs, "GOMAXPROCS of the inline-mode server")
	c.Var(positiveFloats(&cfg.Rates, ":"), "rates",
		"offered `r1:r2:...` in req/s, one per step (default: -factors times the measured capacity)")
	c.Var(positiveFloats(&cfg.RateFactors, ","), "factors",
		"`multiples` of the measured capacity to offer, one per step, comma-separated")
	c.DurationVar(&cfg.CapacityTime, "capacity-time", cfg.CapacityTime, "how long each mode's capacity is measured")
	c.DurationVar(&cfg.Step, "step", cfg.Step, "how long each rate is offered")
	c.IntVar(&cfg.MaxInflight, "max-inflight", cfg.MaxInflight,
		"most outstanding `requests`; sends due beyond it are counted as missed")
	c.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on each request")
	c.DurationVar(&cfg.ScrapeInterval, "scrape-interval", cfg.ScrapeInterval,
		"resolution of the timelines: the server's -stats-interval, and how often the listen backlog and CPU "+
			"use are sampled")
	work := c.Duration("work", 4*time.Millisecond, "CPU time per /data request, the server's -work")
	c.Float64Var(&cfg.ProbeRate, "probe-rate", cfg.ProbeRate,
		"/healthz probes per second, each on a new connection (`rate`; 0 disables)")
	c.StringVar(&cfg.Server, "server", cfg.Server, "server `binary`")
	serverArgs := c.String("server-args", "",
		"extra server `flags` for both modes, space-separated, e.g. \"-queue 128\" (not -mode, -pool, "+
			"-overload, -work or -stats-interval, which the experiment sets)")
	c.results("accept-vs-done")
	if err := c.parse(acceptVsDoneUsage); err != nil {
		return err
	}
	if len(cfg.Rates) > 0 && c.given("factors") {
		return usagef("-rates and -factors exclude each other")
	}
	owned := []string{"mode", "pool", "overload", "work", "stats-interval"}
	if err := check(&cfg, &cfg.Settings, *serverArgs, *work, owned...); err != nil {
		return err
	}
	cfg.Progress = c.stderr
	cfg.Live = c.live()

	return c.runExperiment(func() (resultFiles, string, error) {
		res, err := experiment.AcceptVsDone(ctx, cfg)
		if res == nil || len(res.Runs) == 0 {
			return nil, "", err
		}
		return res, res.Markdown(), err
	})
}
