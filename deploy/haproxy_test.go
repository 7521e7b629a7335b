package deploy

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"offload/config"
	"offload/internal/await"
	"offload/internal/testbin"
	"offload/loadtest"
	"offload/loadtest/observe"
)

// TestRollingRestartBehindHAProxyLosesNothing runs haproxy.cfg in front of
// the three real servers it names, drives open-loop load through it, and
// restarts each server in turn: SIGTERM, exit 0, start again on the same
// port, wait until HAProxy has it up. At a rate the two servers left can
// serve, every request must get its 200; anything else is the restart's.
// haproxy -c checks the file first. make cluster runs the test alone, with
// -v for the restarts' timings.
func TestRollingRestartBehindHAProxyLosesNothing(t *testing.T) {
	haproxy := need(t, "haproxy", "haproxy")
	const (
		instances = 3 // the servers haproxy.cfg names
		rate      = 200
		settle    = 2 * time.Second // load before, between and after the restarts
	)
	ctx := testbin.Context(t)
	front, stats := freeAddr(t), freeAddr(t)
	t.Setenv("OFFLOAD_FRONTEND", front)
	t.Setenv("OFFLOAD_STATS", stats)
	settings := config.Default()
	settings.Work = time.Millisecond
	addrs, servers := make([]string, instances), make([]*observe.Server, instances)
	start := func(i int) {
		t.Helper()
		var err error
		if servers[i], err = observe.Start(ctx, observe.Config{Binary: serverBin, Addr: addrs[i], Server: settings}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range servers {
		addrs[i] = freeAddr(t)
		t.Setenv(fmt.Sprintf("OFFLOAD_S%d", i+1), addrs[i])
		start(i)
	}
	t.Cleanup(func() {
		for _, srv := range servers {
			if srv != nil {
				if err := srv.Stop(context.WithoutCancel(ctx)); err != nil && !t.Failed() {
					t.Error(err)
				}
			}
		}
	})
	cfg, err := filepath.Abs("haproxy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, haproxy, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c rejects %s: %v\n%s", cfg, err, out)
	}
	run(t, t.TempDir(), haproxy, "-db", "-f", cfg)
	up := func(i int) func() bool {
		return func() bool { return haproxyStatus(ctx, stats, fmt.Sprintf("s%d", i+1)) == "UP" }
	}
	for i := range instances {
		await.True(t, fmt.Sprintf("HAProxy to have s%d up", i+1), 20*time.Second, up(i))
	}

	// The load runs until the last restart has settled.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var res *loadtest.Result
	var loadErr error
	loaded := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(loaded)
		res, loadErr = loadtest.Run(loadCtx, loadtest.Config{
			URL: "http://" + front + "/data", Rates: []float64{rate}, Duration: 10 * time.Minute, Timeout: 10 * time.Second,
		})
	}()
	defer func() { stopLoad(); <-loaded }()
	pause := func() {
		select {
		case <-time.After(settle):
		case <-ctx.Done():
		}
	}
	for i := range instances {
		pause()
		sigterm := time.Now()
		if err := servers[i].Stop(ctx); err != nil {
			t.Fatalf("restart of s%d: %v", i+1, err)
		}
		stopped := time.Now()
		start(i)
		await.True(t, fmt.Sprintf("HAProxy to take s%d back", i+1), 20*time.Second, up(i))
		t.Logf("s%d: exit 0 %v after SIGTERM; up in HAProxy %v after its start",
			i+1, stopped.Sub(sigterm).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	}
	pause()
	stopLoad()
	<-loaded
	took := time.Since(began)
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	o := res.Outcomes
	lost := o.Errors() + o.Missed + res.Answered - o.Status[200]
	t.Logf("%d requests through HAProxy in %v while %d servers restarted in turn: statuses %v, lost %d",
		res.Requests, took.Round(time.Millisecond), instances, o.Status, lost)
	if lost != 0 {
		t.Errorf("lost %d of %d requests: timeouts %d, connect %d, resets %d, other %d, missed %d, and the non-200 answers",
			lost, res.Requests, o.Timeouts, o.Connect, o.Resets, o.Other, o.Missed)
	}
	// The load ran throughout: about the rate times the run's length.
	if want := int64(0.7 * rate * took.Seconds()); res.Requests < want {
		t.Errorf("%d requests in %v, want at least %d: the load did not run throughout", res.Requests, took, want)
	}
}

// haproxyStatus is a server's status ("UP", "DOWN", ...) in backend
// offload on HAProxy's stats page as CSV, "" if it cannot be read.
func haproxyStatus(ctx context.Context, stats, server string) string {
	code, body, err := observe.Get(ctx, "http://"+stats+"/stats;csv", time.Second)
	if err != nil || code != http.StatusOK {
		return ""
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return ""
	}
	header := rows[0]
	header[0] = strings.TrimPrefix(header[0], "# ")
	px, sv, st := slices.Index(header, "pxname"), slices.Index(header, "svname"), slices.Index(header, "status")
	for _, row := range rows[1:] {
		if min(px, sv, st) >= 0 && len(row) > st && row[px] == "offload" && row[sv] == server {
			return row[st]
		}
	}
	return ""
}
