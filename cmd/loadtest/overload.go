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

const overloadUsage = `Usage: loadtest overload [flags]

Compares the server's overload policies side by side. It first measures, on
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

Flags:
`

// overloadCommand is "loadtest overload".
func overloadCommand(ctx context.Context, args []string, e *env) int {
	def := experiment.DefaultOverloadConfig()
	var names []string
	for _, p := range def.Policies {
		names = append(names, p.Name)
	}
	fs := newFlagSet("overload")
	policies := choices(names, names...)
	fs.Var(policies, "policies", "`policies` to compare, in order, comma-separated: "+strings.Join(names, ", "))
	procs := fs.Int("procs", def.Procs, "the servers' GOMAXPROCS (0: this machine's CPU count)")
	work := fs.Duration("work", def.Work, "CPU time per bulk /data request, the servers' -work")
	scale := fs.Float64("scale", def.Scale, "multiply every phase's length by this `factor` (1: about 46 s per policy)")
	server := fs.String("server", def.Server, "server `binary`")
	out := fs.String("out", "results", "`directory` under which the results directory is created")
	name := fs.String("name", "overload", "results directory `prefix`: -out/NAME-TIMESTAMP")
	if code, ok := parse(fs, args, overloadUsage, e); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "overload", fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if strings.ContainsAny(*name, `/\`) || *name == "" {
		return usageError(e, "overload", fmt.Sprintf("-name %q must be a plain file name", *name))
	}
	cfg := def
	cfg.Server, cfg.Procs, cfg.Work, cfg.Scale = *server, *procs, *work, *scale
	cfg.Policies = slices.DeleteFunc(slices.Clone(def.Policies), func(p experiment.OverloadPolicy) bool {
		return !slices.Contains(policies.values, p.Name)
	})
	if err := cfg.Validate(); err != nil {
		return usageError(e, "overload", err.Error())
	}
	if err := observe.CheckBinary(cfg.Server); err != nil {
		return failure(e, "overload", err)
	}
	cfg.Progress = e.stderr
	start := time.Now()
	return runExperiment(e, "overload", *out, *name, func() (resultFiles, string, error) {
		res, err := experiment.Overload(ctx, cfg)
		if res == nil {
			return nil, "", err
		}
		return res, res.Markdown() + fmt.Sprintf("\n(%v)\n", time.Since(start).Round(time.Second)), err
	})
}
