package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"offload/config"
	"offload/loadtest/experiment"
	"offload/loadtest/observe"
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

	return c.runExperiment(func() (resultFiles, string, error) {
		res, err := experiment.AcceptVsDone(ctx, cfg)
		if res == nil || len(res.Runs) == 0 {
			return nil, "", err
		}
		return res, res.Markdown(), err
	})
}

const overloadUsage = `Compares the server's overload policies side by side. It first measures, on
a static server, the capacity C and the latency W of one request alone, at
-work and at twice it. Then, for each policy, a fresh server takes the same
phases of open-loop load back to back: 0.5, 0.8, 1, 2 and 3 times C; 3 C with
jobs that suddenly cost twice as much; 3 C of bulk plus 0.2 C of "Priority:
u=0"; 3 C with a deadline of 3 W on every request (X-Request-Timeout); and
0.4 C with bursts of 30 simultaneous requests every 2 s. /healthz is probed
throughout and the server's overload state, queue, readiness and CPU are
sampled every quarter second.

Prints the table and writes overload.json, overload-table.md,
overload-latency.png and overload-goodput.png into -out/NAME-TIMESTAMP/.
`

func overloadCommand(ctx context.Context, c *cmdline) error {
	cfg := experiment.DefaultOverloadConfig()
	var names []string
	for _, p := range cfg.Policies {
		names = append(names, p.Name)
	}
	chosen := names
	c.Var(choices(&chosen, names...), "policies",
		"`policies` to compare, in order, comma-separated: "+strings.Join(names, ", "))
	c.IntVar(&cfg.Procs, "procs", cfg.Procs, "the servers' GOMAXPROCS (0: this machine's CPU count)")
	c.DurationVar(&cfg.Work, "work", cfg.Work, "CPU time per bulk /data request, the servers' -work")
	c.Float64Var(&cfg.Scale, "scale", cfg.Scale,
		"multiply every phase's length by this `factor` (1: about 46 s per policy)")
	c.StringVar(&cfg.Server, "server", cfg.Server, "server `binary`")
	c.results("overload")
	if err := c.parse(overloadUsage); err != nil {
		return err
	}
	cfg.Policies = slices.DeleteFunc(cfg.Policies, func(p experiment.OverloadPolicy) bool {
		return !slices.Contains(chosen, p.Name)
	})
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	if err := observe.CheckBinary(cfg.Server); err != nil {
		return err
	}
	cfg.Progress = c.stderr
	start := time.Now()
	return c.runExperiment(func() (resultFiles, string, error) {
		res, err := experiment.Overload(ctx, cfg)
		if res == nil {
			return nil, "", err
		}
		return res, res.Markdown() + fmt.Sprintf("\n(%v)\n", time.Since(start).Round(time.Second)), err
	})
}

// experimentConfig is an experiment's configuration.
type experimentConfig interface {
	Validate() error
	Preflight() error
}

// check completes and checks cfg: *server becomes the server's defaults
// with -work and -server-args, then cfg is validated and preflighted.
// owned are the server flags the experiment sets itself, which
// -server-args must not give.
func check(cfg experimentConfig, server *config.Config, serverArgs string, work time.Duration, owned ...string) error {
	if work <= 0 {
		return usagef("-work must be > 0 (got %v)", work)
	}
	*server = config.Default()
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	server.RegisterFlags(fs)
	if err := fs.Parse(strings.Fields(serverArgs)); err != nil {
		return usagef("-server-args: %w", err)
	}
	if fs.NArg() > 0 {
		return usagef("-server-args: unexpected %q; give flags only", fs.Args())
	}
	owned = append(owned, "addr", "log-format", "metrics-addr")
	var taken []string
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(owned, f.Name) {
			taken = append(taken, "-"+f.Name)
		}
	})
	if len(taken) > 0 {
		return usagef("-server-args: the experiment sets %s itself; leave it out", strings.Join(taken, ", "))
	}
	if err := server.Validate(); err != nil {
		return usagef("-server-args: %s", oneLine(err.Error()))
	}
	server.Work = work
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	return cfg.Preflight()
}

// resultFiles is an experiment's result.
type resultFiles interface {
	WriteFiles(dir string) error
}

// runExperiment creates the results directory, runs the experiment, and
// writes its files and summary, even partial results of a failed run; one
// that measured nothing (a nil result) leaves no directory.
func (c *cmdline) runExperiment(run func() (resultFiles, string, error)) error {
	dir, err := experiment.NewResultsDir(c.out, c.prefix)
	if err != nil {
		return err
	}
	res, summary, err := run()
	if res == nil {
		os.Remove(dir) // nothing to keep; fails harmlessly if not empty
		if err == nil {
			err = errors.New("no runs")
		}
		return err
	}
	if werr := res.WriteFiles(dir); werr != nil {
		return werr
	}
	fmt.Fprint(c.stdout, "\n", summary)
	if err != nil {
		fmt.Fprintf(c.stdout, "\npartial results in %s\n", dir)
		return err
	}
	fmt.Fprintf(c.stdout, "\nresults in %s\n", dir)
	return nil
}
