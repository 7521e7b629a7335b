package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"offload/config"
	"offload/loadtest/experiment"
)

const sweepUsage = `Usage: loadtest sweep [flags]

Measures /data throughput and latency against the worker pool size. For each
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

Flags:
`

// sweepCommand is "loadtest sweep".
func sweepCommand(ctx context.Context, args []string, e *env) int {
	def := experiment.DefaultSweepConfig()
	fs := newFlagSet("sweep")
	pools := positiveInts(def.Pools)
	fs.Var(pools, "pools", "worker pool `sizes` for offload mode, comma-separated")
	modes := choices(def.Modes, config.ModeOffload, config.ModeInline)
	fs.Var(modes, "modes", "server `modes`, comma-separated: offload, inline")
	engines := choices([]string{string(experiment.Builtin)}, string(experiment.Builtin), string(experiment.Wrk))
	fs.Var(engines, "engines", "load `generators`, comma-separated: builtin, wrk")
	procs := fs.Int("procs", def.Procs, "the server's GOMAXPROCS (the default is this machine's CPU count)")
	conns := fs.Int("c", def.Connections, "closed-loop `connections`")
	duration := fs.Duration("d", def.Duration, "measured duration of each run (whole seconds with wrk)")
	warmup := fs.Duration("warmup", def.Warmup, "load before each measurement, not recorded (wrk rounds up to seconds)")
	timeout := fs.Duration("timeout", def.Timeout, "bound on each request")
	work := fs.Duration("work", 4*time.Millisecond, "CPU time per /data request, the server's -work")
	closeEach := fs.Bool("close", false, "one request per connection (\"Connection: close\") instead of keep-alive")
	wrkThreads := fs.Int("wrk-threads", def.WrkThreads, "wrk's -t `threads`; -c must be a multiple")
	repeat := fs.Int("repeat", def.Repeat, "run the whole sweep this many `times` over; the table and chart show medians")
	probeRate := fs.Float64("probe-rate", def.ProbeRate, "/healthz probes per second during each run, each on a new connection (`rate`; 0 disables)")
	server := fs.String("server", def.Server, "server `binary`")
	serverArgs := fs.String("server-args", "", "extra server `flags` for every run, space-separated, e.g. \"-queue 128\" (not -mode, -pool, -overload or -work, which the sweep sets)")
	out := fs.String("out", "results", "`directory` under which the results directory is created")
	name := fs.String("name", "sweep", "results directory `prefix`: -out/NAME-TIMESTAMP")
	if code, ok := parse(fs, args, sweepUsage, e); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "sweep", fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if strings.ContainsAny(*name, `/\`) || *name == "" {
		return usageError(e, "sweep", fmt.Sprintf("-name %q must be a plain file name", *name))
	}

	cfg := def
	cfg.Server = *server
	settings, err := serverSettings(*serverArgs, "mode", "pool", "overload", "work")
	if err != nil {
		return usageError(e, "sweep", err.Error())
	}
	cfg.Settings = settings
	cfg.Procs = *procs
	cfg.Pools = pools.values
	cfg.Modes = modes.values
	cfg.Engines = nil
	for _, en := range engines.values {
		cfg.Engines = append(cfg.Engines, experiment.Engine(en))
	}
	cfg.Connections = *conns
	cfg.Duration = *duration
	cfg.Warmup = *warmup
	cfg.Timeout = *timeout
	cfg.Settings.Work = *work
	cfg.Close = *closeEach
	cfg.WrkThreads = *wrkThreads
	cfg.Repeat = *repeat
	cfg.ProbeRate = *probeRate
	if *work <= 0 {
		return usageError(e, "sweep", fmt.Sprintf("-work must be > 0 (got %v)", *work))
	}
	if err := cfg.Validate(); err != nil {
		return usageError(e, "sweep", err.Error())
	}
	if err := cfg.Preflight(); err != nil {
		return failure(e, "sweep", err)
	}
	cfg.Progress = e.stderr
	if e.terminal {
		cfg.Live = e.stderr
	}

	return runExperiment(e, "sweep", *out, *name, func() (resultFiles, string, error) {
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
