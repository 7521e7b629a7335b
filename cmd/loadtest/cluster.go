package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"offload/loadtest/experiment"
)

const clusterUsage = `A rolling restart behind HAProxy: starts three servers on free 127.0.0.1
ports and HAProxy with -haproxy-config (deploy/haproxy/haproxy.cfg, whose
addresses come from the environment), drives open-loop load through HAProxy,
and restarts each server in turn: SIGTERM, wait for exit 0, start it again,
wait until HAProxy has it up. It passes when every request was answered
200: at a rate the servers left can serve, anything else is the restart's.
`

func clusterCommand(ctx context.Context, c *cmdline) error {
	cfg := experiment.DefaultClusterConfig()
	c.StringVar(&cfg.Server, "server", cfg.Server, "server `binary`")
	c.StringVar(&cfg.HAProxy, "haproxy", cfg.HAProxy, "haproxy `binary`")
	c.StringVar(&cfg.HAProxyConfig, "haproxy-config", cfg.HAProxyConfig, "HAProxy configuration `file`")
	c.DurationVar(&cfg.Work, "work", cfg.Work, "CPU time per /data request, the servers' -work")
	c.Float64Var(&cfg.Rate, "rate", cfg.Rate, "open-loop `requests per second` through HAProxy")
	c.DurationVar(&cfg.Settle, "settle", cfg.Settle,
		"load before the first restart, between restarts and after the last")
	if err := c.parse(clusterUsage); err != nil {
		return err
	}
	if cfg.Rate <= 0 || cfg.Work <= 0 || cfg.Settle < 0 {
		return usagef("-rate and -work must be positive, -settle not negative")
	}
	cfg.Progress = c.stderr
	res, err := experiment.Cluster(ctx, cfg)
	if err != nil {
		return err
	}
	o := res.Load.Outcomes
	var status []string
	for _, code := range slices.Sorted(maps.Keys(o.Status)) {
		status = append(status, fmt.Sprintf("%d: %d", code, o.Status[code]))
	}
	fmt.Fprintf(c.stdout, "%d requests through HAProxy while %d servers restarted in turn: %s; lost %d (not 200: timeouts %d, connect %d, resets %d, other %d, missed %d, and the non-200 answers)\n",
		res.Load.Requests, len(res.Restarts), strings.Join(status, ", "), res.Lost(), o.Timeouts, o.Connect, o.Resets, o.Other, o.Missed)
	for _, r := range res.Restarts {
		fmt.Fprintf(c.stdout, "  s%d: exit 0 %.2f s after SIGTERM; up in HAProxy %.2f s after its start\n", r.Instance, r.Stopped, r.Up)
	}
	if res.Lost() > 0 {
		return errFailed
	}
	return nil
}
