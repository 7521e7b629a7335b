package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"offload/config"
	"offload/loadtest/experiment"
)

const acceptVsDoneUsage = `Usage: loadtest accept-vs-done [flags]

Reproduces the figure of the blog post this project ports: for each mode, a
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

Flags:
`

// acceptVsDoneCommand is "loadtest accept-vs-done".
func acceptVsDoneCommand(ctx context.Context, args []string, e *env) int {
	def := experiment.DefaultAcceptVsDoneConfig()
	fs := newFlagSet("accept-vs-done")
	modes := choices(def.Modes, config.ModeOffload, config.ModeInline)
	fs.Var(modes, "modes", "server `modes` in the order run, comma-separated: offload, inline")
	offloadProcs := fs.Int("offload-procs", def.OffloadProcs, "GOMAXPROCS of the offload-mode server")
	offloadPool := fs.Int("offload-pool", def.OffloadPool, "worker pool `size` of the offload-mode server")
	inlineProcs := fs.Int("inline-procs", def.InlineProcs, "GOMAXPROCS of the inline-mode server")
	rates := positiveFloats(nil, ":")
	fs.Var(rates, "rates", "offered `r1:r2:...` in req/s, one per step (default: -factors times the measured capacity)")
	factors := positiveFloats(def.RateFactors, ",")
	fs.Var(factors, "factors", "`multiples` of the measured capacity to offer, one per step, comma-separated")
	capacityTime := fs.Duration("capacity-time", def.CapacityTime, "how long each mode's capacity is measured")
	step := fs.Duration("step", def.Step, "how long each rate is offered")
	maxInflight := fs.Int("max-inflight", def.MaxInflight, "most outstanding `requests`; sends due beyond it are counted as missed")
	timeout := fs.Duration("timeout", def.Timeout, "bound on each request")
	scrapeInterval := fs.Duration("scrape-interval", def.ScrapeInterval, "resolution of the timelines: the server's -stats-interval, and how often the listen backlog and CPU use are sampled")
	work := fs.Duration("work", 4*time.Millisecond, "CPU time per /data request, the server's -work")
	probeRate := fs.Float64("probe-rate", def.ProbeRate, "/healthz probes per second, each on a new connection (`rate`; 0 disables)")
	server := fs.String("server", def.Server, "server `binary`")
	serverArgs := fs.String("server-args", "", "extra server `flags` for both modes, space-separated, e.g. \"-queue 128\" (not -mode, -pool, -overload, -work or -stats-interval, which the experiment sets)")
	out := fs.String("out", "results", "`directory` under which the results directory is created")
	name := fs.String("name", "accept-vs-done", "results directory `prefix`: -out/NAME-TIMESTAMP")
	if code, ok := parse(fs, args, acceptVsDoneUsage, e); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "accept-vs-done", fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if strings.ContainsAny(*name, `/\`) || *name == "" {
		return usageError(e, "accept-vs-done", fmt.Sprintf("-name %q must be a plain file name", *name))
	}
	if len(rates.values) > 0 && explicit(fs, "factors") {
		return usageError(e, "accept-vs-done", "-rates and -factors exclude each other")
	}
	if *work <= 0 {
		return usageError(e, "accept-vs-done", fmt.Sprintf("-work must be > 0 (got %v)", *work))
	}

	cfg := def
	cfg.Server = *server
	settings, err := serverSettings(*serverArgs, "mode", "pool", "overload", "work", "stats-interval")
	if err != nil {
		return usageError(e, "accept-vs-done", err.Error())
	}
	cfg.Settings = settings
	cfg.Settings.Work = *work
	cfg.Modes = modes.values
	cfg.OffloadProcs, cfg.OffloadPool, cfg.InlineProcs = *offloadProcs, *offloadPool, *inlineProcs
	cfg.Rates = rates.values
	cfg.RateFactors = factors.values
	cfg.CapacityTime = *capacityTime
	cfg.Step = *step
	cfg.MaxInflight = *maxInflight
	cfg.Timeout = *timeout
	cfg.ScrapeInterval = *scrapeInterval
	cfg.ProbeRate = *probeRate
	if err := cfg.Validate(); err != nil {
		return usageError(e, "accept-vs-done", err.Error())
	}
	if err := cfg.Preflight(); err != nil {
		return failure(e, "accept-vs-done", err)
	}
	cfg.Progress = e.stderr
	if e.terminal {
		cfg.Live = e.stderr
	}

	return runExperiment(e, "accept-vs-done", *out, *name, func() (resultFiles, string, error) {
		res, err := experiment.AcceptVsDone(ctx, cfg)
		if res == nil || len(res.Runs) == 0 {
			return nil, "", err
		}
		return res, res.Markdown(), err
	})
}
