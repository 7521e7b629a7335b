package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"offload/loadtest/experiment"
)

const clusterUsage = `Usage: loadtest cluster [flags]

A rolling restart behind HAProxy: starts three servers on free 127.0.0.1
ports and HAProxy with -haproxy-config (deploy/haproxy/haproxy.cfg, whose
addresses come from the environment), drives open-loop load through HAProxy,
and restarts each server in turn: SIGTERM, wait for exit 0, start it again,
wait until HAProxy has it up. It passes when every request was answered
200: at a rate the servers left can serve, anything else is the restart's.

Flags:
`

// clusterCommand is "loadtest cluster".
func clusterCommand(ctx context.Context, args []string, e *env) int {
	def := experiment.DefaultClusterConfig()
	fs := newFlagSet("cluster")
	server := fs.String("server", def.Server, "server `binary`")
	haproxy := fs.String("haproxy", def.HAProxy, "haproxy `binary`")
	config := fs.String("haproxy-config", def.HAProxyConfig, "HAProxy configuration `file`")
	work := fs.Duration("work", def.Work, "CPU time per /data request, the servers' -work")
	rate := fs.Float64("rate", def.Rate, "open-loop `requests per second` through HAProxy")
	settle := fs.Duration("settle", def.Settle, "load before the first restart, between restarts and after the last")
	if code, ok := parse(fs, args, clusterUsage, e); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "cluster", fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if *rate <= 0 || *work <= 0 || *settle < 0 {
		return usageError(e, "cluster", "-rate and -work must be positive, -settle not negative")
	}
	cfg := def
	cfg.Server, cfg.HAProxy, cfg.HAProxyConfig, cfg.Work, cfg.Rate, cfg.Settle = *server, *haproxy, *config, *work, *rate, *settle
	cfg.Progress = e.stderr
	res, err := experiment.Cluster(ctx, cfg)
	if err != nil {
		return failure(e, "cluster", err)
	}
	o := res.Load.Outcomes
	var status []string
	for _, code := range slices.Sorted(maps.Keys(o.Status)) {
		status = append(status, fmt.Sprintf("%d: %d", code, o.Status[code]))
	}
	fmt.Fprintf(e.stdout, "%d requests through HAProxy while %d servers restarted in turn: %s; lost %d (not 200: timeouts %d, connect %d, resets %d, other %d, missed %d, and the non-200 answers)\n",
		res.Load.Requests, len(res.Restarts), strings.Join(status, ", "), res.Lost(), o.Timeouts, o.Connect, o.Resets, o.Other, o.Missed)
	for _, r := range res.Restarts {
		fmt.Fprintf(e.stdout, "  s%d: exit 0 %.2f s after SIGTERM; up in HAProxy %.2f s after its start\n", r.Instance, r.Stopped, r.Up)
	}
	if res.Lost() > 0 {
		return exitFailure
	}
	return exitOK
}
