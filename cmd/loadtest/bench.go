package main

import (
	"context"
	"fmt"
	"time"

	"offload/loadtest/bench"
	"offload/loadtest/experiment"
	"offload/loadtest/observe"
)

const benchUsage = `Measures offload against its performance targets and prints one report with
a row per target, its measured value and pass or FAIL: work efficiency,
hand-off cost, acceptor overhead, IO responsiveness (with a pool-size
sweep), overload, connections, and latency at half capacity. Starts the
servers itself on 127.0.0.1. Takes about 6 minutes on 2 cores.

Writes report.md and report.json into -out/NAME-TIMESTAMP/. Exit status 1
when a target failed.
`

func benchCommand(ctx context.Context, c *cmdline) error {
	cfg := bench.Config{Progress: c.stderr}
	c.StringVar(&cfg.Server, "server", "bin/server", "offload server `binary`")
	c.StringVar(&cfg.Plain, "plain", "bin/plainserver", "bare fasthttp baseline `binary` (internal/plainserver)")
	c.IntVar(&cfg.Procs, "procs", 0, "GOMAXPROCS of the servers (0: every CPU)")
	c.Float64Var(&cfg.Scale, "scale", 1,
		"multiply every measurement window by this; below 1 for a quick look, not for the report")
	c.StringVar(&c.out, "out", "results", outUsage)
	if err := c.parse(benchUsage); err != nil {
		return err
	}
	if cfg.Scale <= 0 || cfg.Procs < 0 {
		return usagef("-scale must be > 0 and -procs >= 0")
	}
	for _, bin := range []string{cfg.Server, cfg.Plain} {
		if err := observe.CheckBinary(bin); err != nil {
			return err
		}
	}
	dir, err := experiment.NewResultsDir(c.out, "bench")
	if err != nil {
		return err
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil && rep == nil {
		return err
	}
	if serr := rep.Save(dir); serr != nil {
		return serr
	}
	fmt.Fprintf(c.stdout, "\n%s\nreport in %s\n", rep.Markdown(), dir)
	if err != nil {
		return err
	}
	if !rep.Passed() {
		return errFailed
	}
	return nil
}

const soakUsage = `Runs the server at a steady share of its measured capacity for a long time
(open loop, keep-alive) while bursts of slowloris connections and of clients
that reset mid-request come and go, and checks that every request is
answered and that the server's goroutines, open descriptors and memory stay
flat. Prints the checks and a sample every -sample; writes soak.json into
-out/soak-TIMESTAMP/. Exit status 1 when a check failed.
`

func soakCommand(ctx context.Context, c *cmdline) error {
	cfg := bench.SoakConfig{Progress: c.stderr}
	c.StringVar(&cfg.Server, "server", "bin/server", "offload server `binary`")
	c.IntVar(&cfg.Procs, "procs", 0, "GOMAXPROCS of the server (0: every CPU)")
	c.DurationVar(&cfg.Duration, "d", 10*time.Minute, "how long the load runs")
	c.Float64Var(&cfg.Load, "load", 0.8, "offered /data rate as a `fraction` of the measured capacity")
	c.DurationVar(&cfg.BurstEvery, "burst-every", 30*time.Second, "time between bursts of abusive clients")
	c.IntVar(&cfg.BurstSize, "burst-size", 200, "slowloris and resetting `connections` per burst, of each kind")
	c.DurationVar(&cfg.SampleEvery, "sample", 10*time.Second, "time between samples of goroutines, fds and RSS")
	c.StringVar(&c.out, "out", "results", outUsage)
	if err := c.parse(soakUsage); err != nil {
		return err
	}
	if cfg.Duration <= 0 || cfg.Load <= 0 || cfg.BurstEvery <= 0 || cfg.BurstSize <= 0 || cfg.SampleEvery <= 0 || cfg.Procs < 0 {
		return usagef("-d, -load, -burst-every, -burst-size and -sample must be > 0")
	}
	if err := observe.CheckBinary(cfg.Server); err != nil {
		return err
	}
	dir, err := experiment.NewResultsDir(c.out, "soak")
	if err != nil {
		return err
	}
	rep, err := bench.Soak(ctx, cfg)
	if err != nil {
		return err
	}
	if err := experiment.WriteFiles(dir, "soak.json", rep, nil); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "\nsoak: %v at %.0f req/s (%.0f%% of %.0f req/s capacity), %d abuse bursts, %d requests %v, p99 %.1f ms\n",
		time.Duration(rep.DurationS*float64(time.Second)), rep.Rate, 100*rep.Rate/rep.Capacity, rep.Capacity, rep.Bursts, rep.Requests, rep.Status, rep.P99Ms)
	fmt.Fprintf(c.stdout, "%-12s %10s %8s %8s %11s\n", "", "goroutines", "fds", "RSS MB", "connections")
	for _, s := range []struct {
		name string
		s    bench.Sample
	}{{"idle before", rep.IdleBefore}, {"early peak", rep.EarlyPeak}, {"late peak", rep.LatePeak}, {"idle after", rep.IdleAfter}} {
		fmt.Fprintf(c.stdout, "%-12s %10.0f %8.0f %8.1f %11.0f\n", s.name, s.s.Goroutines, s.s.FDs, s.s.RSSMB, s.s.Active)
	}
	for _, ch := range rep.Checks {
		fmt.Fprintln(c.stdout, ch)
	}
	fmt.Fprintf(c.stdout, "report in %s\n", dir)
	if !rep.Pass {
		return errFailed
	}
	return nil
}
