package experiment

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"offload/config"
	"offload/loadtest"
	"offload/loadtest/observe"
)

// ClusterConfig says how to run a rolling restart: three servers behind
// HAProxy with the shipped configuration, steady load through HAProxy, and
// each server in turn stopped with SIGTERM, required to exit 0, started
// again and waited for until HAProxy has it up.
type ClusterConfig struct {
	// Server is the offload binary, HAProxy the haproxy binary, and
	// HAProxyConfig the configuration it runs (deploy/haproxy/haproxy.cfg,
	// which takes its addresses from the environment).
	Server, HAProxy, HAProxyConfig string
	// Work is the servers' -work; Rate the open-loop load through HAProxy.
	Work time.Duration
	Rate float64
	// Settle is the load before the first restart, between restarts and
	// after the last.
	Settle time.Duration
	// Progress receives a line per step; nil for none.
	Progress io.Writer
}

// DefaultClusterConfig is make cluster's run.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{
		Server: "bin/server", HAProxy: "haproxy", HAProxyConfig: "deploy/haproxy/haproxy.cfg",
		Work: 4 * time.Millisecond, Rate: 200, Settle: 3 * time.Second,
	}
}

// Instances is how many servers the shipped HAProxy configuration names.
const Instances = 3

// ClusterResult is what a rolling restart measured.
type ClusterResult struct {
	// Load is everything the clients sent and got back through HAProxy.
	Load *loadtest.Result `json:"load"`
	// Restarts are the instances in the order they were restarted.
	Restarts []Restart `json:"restarts"`
}

// Restart is one instance's stop and start.
type Restart struct {
	Instance int `json:"instance"`
	// Stopped is how long it took from SIGTERM to exit 0; Up how long
	// from its start until HAProxy had it up again.
	Stopped float64 `json:"stopped_s"`
	Up      float64 `json:"up_s"`
}

// Lost is the number of requests that got no answer, or an answer other
// than 200: at a rate the instances left can serve, any 503 came from the
// restart (HAProxy answers 503 itself when it cannot reach a server).
func (r *ClusterResult) Lost() int64 {
	o := r.Load.Outcomes
	return o.Errors() + o.Missed + r.Load.Answered - o.Status[200]
}

// Cluster runs the rolling restart.
func Cluster(ctx context.Context, c ClusterConfig) (res *ClusterResult, err error) {
	if err := observe.CheckBinary(c.Server); err != nil {
		return nil, err
	}
	haproxy, err := exec.LookPath(c.HAProxy)
	if err != nil {
		return nil, fmt.Errorf("haproxy not found (apt-get install haproxy): %w", err)
	}
	if _, err := os.Stat(c.HAProxyConfig); err != nil {
		return nil, fmt.Errorf("HAProxy configuration: %w", err)
	}
	addrs := make([]string, Instances+2) // the servers, then the frontend and the stats page
	for i := range addrs {
		if addrs[i], err = observe.FreeAddr(); err != nil {
			return nil, err
		}
	}
	front, stats := addrs[Instances], addrs[Instances+1]
	servers := make([]*observe.Server, Instances)
	defer func() {
		for _, s := range servers {
			if s != nil {
				err = errors.Join(err, s.Stop(context.WithoutCancel(ctx)))
			}
		}
	}()
	settings := config.Default()
	settings.Work = c.Work
	start := func(i int) (err error) {
		servers[i], err = observe.Start(ctx, observe.Config{Binary: c.Server, Addr: addrs[i], Server: settings})
		return err
	}
	for i := range servers {
		if err := start(i); err != nil {
			return nil, err
		}
	}

	env := append(os.Environ(), "OFFLOAD_FRONTEND="+front, "OFFLOAD_STATS="+stats)
	for i := range Instances {
		env = append(env, fmt.Sprintf("OFFLOAD_S%d=%s", i+1, addrs[i]))
	}
	proxy := exec.Command(haproxy, "-db", "-f", c.HAProxyConfig)
	proxy.Env = env
	var proxyLog strings.Builder
	proxy.Stdout, proxy.Stderr = &proxyLog, &proxyLog
	proxy.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := proxy.Start(); err != nil {
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	defer func() {
		_ = proxy.Process.Kill()
		_ = proxy.Wait()
	}()
	up := func(i int) bool {
		status, err := haproxyStatus(ctx, stats, fmt.Sprintf("s%d", i+1))
		return err == nil && status == "UP"
	}
	for i := range Instances {
		if err := waitUntil(ctx, 20*time.Second, func() bool { return up(i) }); err != nil {
			return nil, fmt.Errorf("HAProxy does not have s%d up: %w; its log: %s", i+1, err, proxyLog.String())
		}
	}
	progressf(c.Progress, "cluster: three servers behind HAProxy on %s; load at %.0f req/s; restarting each in turn",
		front, c.Rate)

	// The load runs for as long as the restarts could take, plus settling;
	// it is cancelled once the last restart has settled.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	done := make(chan error, 1)
	res = &ClusterResult{}
	go func() {
		var err error
		res.Load, err = loadtest.Run(loadCtx, loadtest.Config{
			URL: "http://" + front + "/data", Rates: []float64{c.Rate}, Duration: 10 * time.Minute, Timeout: 10 * time.Second,
		})
		done <- err
	}()
	restarts := func() error {
		for i := range Instances {
			if !sleepUntil(ctx, time.Now().Add(c.Settle)) {
				return ctx.Err()
			}
			t0 := time.Now()
			if err := servers[i].Stop(ctx); err != nil {
				servers[i] = nil
				return fmt.Errorf("restart of s%d: %w", i+1, err)
			}
			stopped := time.Since(t0)
			t1 := time.Now()
			if err := start(i); err != nil {
				return fmt.Errorf("restart of s%d: %w", i+1, err)
			}
			if err := waitUntil(ctx, 20*time.Second, func() bool { return up(i) }); err != nil {
				return fmt.Errorf("HAProxy did not take s%d back: %w", i+1, err)
			}
			res.Restarts = append(res.Restarts, Restart{Instance: i + 1, Stopped: stopped.Seconds(), Up: time.Since(t1).Seconds()})
			progressf(c.Progress, "cluster: s%d: exited 0 %v after SIGTERM, up again in HAProxy %v later",
				i+1, stopped.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
		}
		sleepUntil(ctx, time.Now().Add(c.Settle))
		return nil
	}()
	stopLoad()
	if err := errors.Join(restarts, <-done); err != nil {
		return res, err
	}
	// Cancelled on purpose: the result covers the whole run.
	res.Load.Interrupted = false
	return res, nil
}

// waitUntil polls cond until it holds or limit passes.
func waitUntil(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", limit)
		}
		if !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
			return ctx.Err()
		}
	}
	return nil
}

// haproxyStatus reads a server's status ("UP", "DOWN", ...) in backend
// offload from HAProxy's stats page as CSV.
func haproxyStatus(ctx context.Context, stats, server string) (string, error) {
	code, body, err := observe.Get(ctx, "http://"+stats+"/stats;csv", time.Second)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("HAProxy stats: status %d", code)
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return "", fmt.Errorf("HAProxy stats: %v", err)
	}
	header := rows[0]
	header[0] = strings.TrimPrefix(header[0], "# ")
	px, sv, st := slices.Index(header, "pxname"), slices.Index(header, "svname"), slices.Index(header, "status")
	if px < 0 || sv < 0 || st < 0 {
		return "", fmt.Errorf("HAProxy stats: no pxname, svname or status column in %q", header)
	}
	for _, row := range rows[1:] {
		if len(row) > st && row[px] == "offload" && row[sv] == server {
			return row[st], nil
		}
	}
	return "", fmt.Errorf("HAProxy stats: no server %s in backend offload", server)
}
