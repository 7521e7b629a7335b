package main

import (
	"context"
	"fmt"

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
	c.outFlag()
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
	fmt.Fprintln(c.stdout)
	if werr := rep.WriteMarkdown(c.stdout); werr != nil {
		return werr
	}
	fmt.Fprintf(c.stdout, "\nreport in %s\n", dir)
	if err != nil {
		return err
	}
	if !rep.Passed() {
		return errFailed
	}
	return nil
}
