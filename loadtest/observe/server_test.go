package observe

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"offload/config"
	"offload/internal/await"
	"offload/internal/testbin"
	"offload/metrics"
	"offload/serverlog"
)

func settings(tune func(*config.Config)) config.Config {
	c := config.Default()
	if tune != nil {
		tune(&c)
	}
	return c
}

func TestServer(t *testing.T) {
	ctx := testbin.Context(t)
	var stats []serverlog.Record
	var mu sync.Mutex
	srv, err := Start(ctx, Config{
		Binary: serverBin, Procs: 1,
		Server: settings(func(c *config.Config) { c.Pool, c.Backlog, c.StatsInterval = 1, 16, 50*time.Millisecond }),
		OnRecord: func(r serverlog.Record) {
			if r.Msg == serverlog.MsgStats {
				mu.Lock()
				stats = append(stats, r)
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	if host, _, err := net.SplitHostPort(srv.Addr()); err != nil || host != "127.0.0.1" {
		t.Errorf("Addr() = %q, want 127.0.0.1:PORT", srv.Addr())
	}
	if srv.PID() <= 0 || srv.Running() != nil {
		t.Errorf("PID() = %d, Running() = %v", srv.PID(), srv.Running())
	}

	// 50 requests of 10 ms CPU each must show up as at least 0.4 s of
	// server CPU time (the kernel counts in 10 ms ticks).
	before, err := srv.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		code, _, err := Get(ctx, srv.URL("/data?work=10ms"), 5*time.Second)
		if err != nil || code != 200 {
			t.Fatalf("GET /data: %d, %v", code, err)
		}
	}
	after, err := srv.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := after.Since(before)
	if d.ServerCPU < 0.4 || d.ServerCPU > 5 || d.Wall <= 0 || d.GeneratorCPU < 0 || d.OtherCPU < 0 {
		t.Errorf("delta %+v for 0.5 s of server work", d)
	}
	if got := d.Counter(metrics.JobsCompleted); got != 50 {
		t.Errorf("completed jobs grew by %v, want 50", got)
	}
	if after.RSS < 1<<20 || after.RSS > 1<<30 || after.PeakRSS < after.RSS {
		t.Errorf("RSS %d, peak %d; want a few MB and peak >= RSS", after.RSS, after.PeakRSS)
	}
	// stdio, listeners, the poller: a handful, not thousands.
	if after.FDs < 4 || after.FDs > 64 {
		t.Errorf("FDs = %d", after.FDs)
	}
	q, err := after.ListenQueue()
	if err != nil || q.Limit != 16 || q.Queued != 0 {
		t.Errorf("ListenQueue() = %+v, %v; want limit 16 and nothing queued", q, err)
	}
	await.True(t, "a stats record counting the jobs", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range stats {
			if r.Completed > 0 {
				return true
			}
		}
		return false
	})

	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v, want the first result (nil)", err)
	}
	if _, err := srv.Snapshot(ctx); err == nil {
		t.Error("Snapshot() after exit: no error")
	}
	if err := srv.Running(); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("Running() after exit = %v", err)
	}
	if tail := strings.Join(srv.logs.tail(), "\n"); !strings.Contains(tail, "shutdown complete") {
		t.Errorf("log tail lacks the shutdown record:\n%s", tail)
	}
}

func TestListenQueueCountsWaitingConnections(t *testing.T) {
	ctx := testbin.Context(t)
	srv, err := Start(ctx, Config{Binary: serverBin, Procs: 1,
		Server: settings(func(c *config.Config) { c.MaxConns, c.Acceptors = 1, 1 })})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	// With -max-conns 1 and one connection held open, the server stops
	// accepting, so further connections wait in the kernel's queue.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 4 {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The server serves the first connection, and its acceptor may hold a
	// second one while it waits for a free slot; the others stay queued
	// until the server's read timeout (5s) closes the first.
	var q ListenQueue
	await.True(t, "2 of the 4 connections in the listen queue", 4*time.Second, func() bool {
		snap, err := srv.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if q, err = snap.ListenQueue(); err != nil {
			t.Fatal(err)
		}
		return q.Queued >= 2
	})
}

// script writes an executable shell script standing in for the server.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-server")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStartFailures(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error
	}{
		{
			name: "missing binary",
			cfg:  Config{Binary: filepath.Join(t.TempDir(), "server"), Server: config.Default()},
			want: []string{"not found: run make build first"},
		},
		{
			name: "invalid settings",
			cfg:  Config{Binary: serverBin, Server: settings(func(c *config.Config) { c.Pool = -1 })},
			want: []string{"server settings", "-pool -1"},
		},
		{
			name: "zero settings",
			cfg:  Config{Binary: serverBin},
			want: []string{"start from config.Default()"},
		},
		{
			name: "log level hides the ready record",
			cfg:  Config{Binary: serverBin, Server: settings(func(c *config.Config) { c.LogLevel = slog.LevelWarn })},
			want: []string{`hides the "offload ready" record`},
		},
		{
			name: "exits",
			cfg:  Config{Binary: script(t, `echo '{"level":"ERROR","msg":"cannot listen"}' >&2; exit 1`), Server: config.Default()},
			want: []string{"exited before it listened", "exit status 1", `server log: {"level":"ERROR","msg":"cannot listen"}`},
		},
		{
			name: "never listens",
			cfg: Config{Binary: script(t, `echo '{"level":"WARN","msg":"still thinking"}' >&2; echo 'last words' >&2; exec sleep 30`),
				Server: config.Default(), ReadyTimeout: 300 * time.Millisecond},
			want: []string{`logged no "offload ready" record within 300ms`, "still thinking"},
		},
		{
			name: "never healthy",
			// Claims a port nobody listens on. A second leaves room for
			// several refused attempts even when the shell is slow to
			// start on a loaded machine.
			cfg: Config{Binary: script(t, `echo '{"level":"INFO","msg":"offload ready","addr":"127.0.0.1:1"}' >&2; exec sleep 30`),
				Server: config.Default(), ReadyTimeout: time.Second},
			want: []string{"not healthy within 1s", "connection refused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := Start(testbin.Context(t), tt.cfg)
			if err == nil {
				srv.Kill()
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestStopKillsAServerThatIgnoresSIGTERM(t *testing.T) {
	bin := script(t, `trap '' TERM
echo "{\"level\":\"INFO\",\"msg\":\"offload ready\",\"addr\":\"$ADDR\"}" >&2
exec sleep 30`)
	// A listener in the test stands in for the fake server's /healthz.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { <-done }()
	defer ln.Close()
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			c.Close()
		}
	}()
	t.Setenv("ADDR", ln.Addr().String())

	srv, err := Start(testbin.Context(t), Config{Binary: bin, Server: config.Default(), StopTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Stop(testbin.Context(t))
	var se *ServerError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "did not exit after SIGTERM in time; killed it") {
		t.Fatalf("Stop() = %v, want a ServerError saying it was killed", err)
	}
	select {
	case <-srv.exited:
	default:
		t.Error("the process is still running after Stop")
	}
}

func TestStopReportsAnEarlierExit(t *testing.T) {
	ctx := testbin.Context(t)
	srv, err := Start(ctx, Config{Binary: serverBin, Server: config.Default()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.FindProcess(srv.PID())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.exited
	err = srv.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "had exited before it was stopped") {
		t.Errorf("Stop() = %v, want an error about the earlier exit", err)
	}
}

func TestLogRing(t *testing.T) {
	var records []serverlog.Record
	l := newLogRing(3, func(r serverlog.Record) { records = append(records, r) })
	ready := `{"level":"INFO","msg":"offload ready","addr":"127.0.0.1:4242","mode":"x"}`
	// Lines split across writes, a line that is not a record, and more
	// lines than the ring holds.
	for _, w := range []string{`{"msg":"one"}` + "\n" + `{"msg":"t`, `wo"}` + "\nnot json\n", ready + "\n" + `{"msg":"stats","queued":3}` + "\nsix"} {
		if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	want := []string{"not json", ready, `{"msg":"stats","queued":3}`, "six"}
	if got := l.tail(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("tail = %q, want %q", got, want)
	}
	if len(records) != 4 || records[1].Msg != "two" || records[3].Queued != 3 {
		t.Errorf("OnRecord saw %+v, want the 4 complete records", records)
	}
	select {
	case addr := <-l.ready:
		if addr != "127.0.0.1:4242" {
			t.Errorf("ready address %q", addr)
		}
	default:
		t.Error("the ready record was not noticed")
	}
	long := strings.Repeat("x", 3*maxLineBytes)
	l.Write([]byte(long + "\n"))
	if got := l.tail(); len(got[len(got)-1]) != maxLineBytes {
		t.Errorf("a long line was kept with %d bytes, want %d", len(got[len(got)-1]), maxLineBytes)
	}
}

// TestProcs checks that Procs sets the server's GOMAXPROCS and that 0
// leaves the runtime's default (every CPU) rather than this process's
// setting. The server reports the GOMAXPROCS it runs with, which may add
// threads of its own, in its ready record.
func TestProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "8")
	ctx := testbin.Context(t)
	reported := map[int]string{}
	for _, procs := range []int{0, 1, runtime.NumCPU()} {
		srv, err := Start(ctx, Config{Binary: serverBin, Procs: procs, Server: settings(nil)})
		if err != nil {
			t.Fatal(err)
		}
		srv.Kill()
		_, after, _ := strings.Cut(strings.Join(srv.logs.tail(), "\n"), `"gomaxprocs":`)
		reported[procs], _, _ = strings.Cut(after, ",")
	}
	if reported[0] != reported[runtime.NumCPU()] || reported[1] == reported[0] {
		t.Errorf("the server reported GOMAXPROCS %q with Procs 0, %q with 1 and %q with %d (every CPU)",
			reported[0], reported[1], reported[runtime.NumCPU()], runtime.NumCPU())
	}
}

func TestSince(t *testing.T) {
	at := time.Now()
	a := Snapshot{At: at, ServerCPU: 1, SelfCPU: 2, ChildrenCPU: 3, MachineBusy: 10, Metrics: map[string]float64{"x_total": 5}}
	b := Snapshot{At: at.Add(2 * time.Second), ServerCPU: 2.5, SelfCPU: 2.5, ChildrenCPU: 3.5, MachineBusy: 13, Metrics: map[string]float64{"x_total": 9}}
	d := b.Since(a)
	if d.Wall != 2 || d.ServerCPU != 1.5 || d.GeneratorCPU != 1 || d.OtherCPU != 0.5 || d.Counter("x_total") != 4 {
		t.Errorf("Since = %+v, counter %v", d, d.Counter("x_total"))
	}
	if d.Cores(d.ServerCPU) != 0.75 || (Delta{}).Cores(1) != 0 {
		t.Errorf("Cores = %v", d.Cores(d.ServerCPU))
	}
	// A tick of rounding must not make the rest of the machine negative.
	b.MachineBusy = 12
	if d := b.Since(a); d.OtherCPU != 0 {
		t.Errorf("OtherCPU = %v, want 0 when the ticks round below", d.OtherCPU)
	}
}

func TestCalibratedPinsTheWork(t *testing.T) {
	ctx := testbin.Context(t)
	cfg := Config{Binary: serverBin, Procs: 1, Server: settings(nil)}
	pinned, err := Calibrated(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !(pinned.WorkIterationNs > 0) {
		t.Fatalf("Calibrated set -work-iteration-ns %v, want > 0", pinned.WorkIterationNs)
	}
	pinned.WorkIterationNs *= 3 // no calibration lands on this by chance
	cfg.Server = pinned
	srv, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	m, err := srv.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := m[metrics.WorkIteration] * 1e9; math.Abs(got/pinned.WorkIterationNs-1) > 1e-6 {
		t.Errorf("server started with -work-iteration-ns %v reports %v", pinned.WorkIterationNs, got)
	}
	if again, err := Calibrated(ctx, cfg); err != nil || again.WorkIterationNs != pinned.WorkIterationNs {
		t.Errorf("Calibrated on pinned settings = %v, %v; want them unchanged", again.WorkIterationNs, err)
	}
	if err := srv.Stop(ctx); err != nil {
		t.Error(err)
	}
}
