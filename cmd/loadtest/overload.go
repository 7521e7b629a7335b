package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"offload/loadtest/experiment"
	"offload/loadtest/observe"
)

const overloadUsage = `Compares the server's overload policies side by side. It first measures, on
a static server, the capacity C and the latency W of one request alone, at
-work and at twice it. Then, for each policy, a fresh server takes the same
phases of open-loop load back to back: 0.5, 0.8, 1, 2 and 3 times C; 3 C with
jobs that suddenly cost twice as much; 0.4 C with bursts of 30 simultaneous
requests every 2 s; 3 C of bulk plus 0.2 C of "Priority: u=0"; and 3 C with a
deadline of 3 W on every request (X-Request-Timeout). /healthz is probed
throughout and the server's overload state, queue and readiness are sampled
every quarter second.

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
