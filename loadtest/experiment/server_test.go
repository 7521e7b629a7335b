package experiment

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestServerProcess(t *testing.T) {
	ctx := testContext(t)
	srv, err := StartServer(ctx, ServerConfig{Binary: serverBin, Args: []string{"-pool", "1", "-backlog", "16"}, Procs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	if host, _, err := net.SplitHostPort(srv.Addr()); err != nil || host != "127.0.0.1" {
		t.Errorf("Addr() = %q, want 127.0.0.1:PORT", srv.Addr())
	}
	if srv.PID() <= 0 {
		t.Errorf("PID() = %d", srv.PID())
	}

	// 50 requests of 10 ms CPU each must show up as at least 0.4 s of
	// CPU time (the kernel counts in 10 ms ticks).
	before, err := srv.CPUSeconds()
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		code, _, err := httpGet(ctx, srv.Addr(), "/data?work=10ms", 5*time.Second)
		if err != nil || code != 200 {
			t.Fatalf("GET /data: %d, %v", code, err)
		}
	}
	after, err := srv.CPUSeconds()
	if err != nil {
		t.Fatal(err)
	}
	if used := after - before; used < 0.4 || used > 5 {
		t.Errorf("CPU time went from %.2fs to %.2fs for 0.5s of work", before, after)
	}
	rss, err := srv.RSSBytes()
	if err != nil || rss < 1<<20 || rss > 1<<30 {
		t.Errorf("RSSBytes() = %d, %v; want a few MB", rss, err)
	}
	peak, err := srv.PeakRSSBytes()
	if err != nil || peak < rss {
		t.Errorf("PeakRSSBytes() = %d, %v; want >= RSS %d", peak, err, rss)
	}
	m, err := srv.Metrics(ctx)
	if err != nil || m["offload_jobs_completed_total"] != 50 {
		t.Errorf("Metrics(): completed %v, %v; want 50", m["offload_jobs_completed_total"], err)
	}
	q, err := srv.ListenQueue(ctx)
	if err != nil || q.Limit != 16 || q.Queued != 0 {
		t.Errorf("ListenQueue() = %+v, %v; want one socket with limit 16 and nothing queued", q, err)
	}

	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v, want the first result (nil)", err)
	}
	final, err := srv.CPUSeconds()
	if err != nil || final < after {
		t.Errorf("CPUSeconds() after exit = %.2f, %v; want >= %.2f", final, err, after)
	}
	if _, err := srv.RSSBytes(); err == nil {
		t.Error("RSSBytes() after exit: no error")
	}
	if !strings.Contains(strings.Join(srv.LogTail(), "\n"), "shutdown complete") {
		t.Errorf("log tail lacks the shutdown line:\n%s", strings.Join(srv.LogTail(), "\n"))
	}
}

func TestListenQueueCountsWaitingConnections(t *testing.T) {
	ctx := testContext(t)
	srv, err := StartServer(ctx, ServerConfig{Binary: serverBin, Args: []string{"-max-conns", "1", "-acceptors", "1"}, Procs: 1})
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
	// until the server's read timeout (5s) closes the first, so they must
	// show up well before that.
	deadline := time.Now().Add(3 * time.Second)
	for {
		q, err := srv.ListenQueue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if q.Queued >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ListenQueue() = %+v, want at least 2 of the 4 connections queued", q)
		}
		time.Sleep(10 * time.Millisecond)
	}
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

func TestStartServerFailures(t *testing.T) {
	tests := []struct {
		name string
		cfg  ServerConfig
		want []string // substrings of the error
	}{
		{
			name: "missing binary",
			cfg:  ServerConfig{Binary: filepath.Join(t.TempDir(), "server")},
			want: []string{"not found: run make build first"},
		},
		{
			name: "bad flag",
			cfg:  ServerConfig{Binary: serverBin, Args: []string{"-pool", "0"}},
			want: []string{"exited before it listened", "exit status 2", "server log:"},
		},
		{
			name: "addr set by caller",
			cfg:  ServerConfig{Binary: serverBin, Args: []string{"-addr=:9999"}},
			want: []string{"-addr=:9999 is set by the experiment"},
		},
		{
			name: "log level hides ready line",
			cfg:  ServerConfig{Binary: serverBin, Args: []string{"-log-level", "warn"}},
			want: []string{"hides the \"offload ready\" line"},
		},
		{
			name: "never listens",
			cfg:  ServerConfig{Binary: script(t, `echo "level=WARN msg=\"still thinking\"" >&2; exec sleep 30`), ReadyTimeout: 300 * time.Millisecond},
			want: []string{"printed no \"offload ready\" line within 300ms", "still thinking"},
		},
		{
			name: "never healthy",
			// Claims a port nobody listens on.
			// A second leaves room for several refused attempts even when
			// the shell is slow to start on a loaded machine.
			cfg:  ServerConfig{Binary: script(t, `echo 'level=INFO msg="offload ready" addr=127.0.0.1:1' >&2; exec sleep 30`), ReadyTimeout: time.Second},
			want: []string{"not healthy within 1s", "connection refused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := StartServer(testContext(t), tt.cfg)
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
echo "level=INFO msg=\"offload ready\" addr=$ADDR" >&2
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

	srv, err := StartServer(testContext(t), ServerConfig{Binary: bin, StopTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Stop(testContext(t))
	var se *ServerError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "did not exit after SIGTERM in time; killed it") {
		t.Fatalf("Stop() = %v, want a ServerError saying it was killed", err)
	}
	select {
	case <-srv.Exited():
	default:
		t.Error("the process is still running after Stop")
	}
}

func TestStopReportsAnEarlierExit(t *testing.T) {
	ctx := testContext(t)
	srv, err := StartServer(ctx, ServerConfig{Binary: serverBin})
	if err != nil {
		t.Fatal(err)
	}
	if err := killProcess(srv.PID()); err != nil {
		t.Fatal(err)
	}
	<-srv.Exited()
	err = srv.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "had exited before it was stopped") {
		t.Errorf("Stop() = %v, want an error about the earlier exit", err)
	}
}

func killProcess(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func TestUserHZMatchesGetconf(t *testing.T) {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		t.Skipf("getconf not available (%v); userHZ stays %d", err, userHZ)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || n != userHZ {
		t.Errorf("getconf CLK_TCK = %q, but CPU times are converted with %d", out, userHZ)
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses, utime 250, stime 50.
	stat := "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 1000000 500 18446744073709551615"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 3.0 {
		t.Errorf("parseStatCPU = %v, %v; want 3.0s", got, err)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("short stat line: no error")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tserver\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n"
	if got, err := parseStatusKB([]byte(status), "VmRSS"); err != nil || got != 10240<<10 {
		t.Errorf("VmRSS = %d, %v", got, err)
	}
	if _, err := parseStatusKB([]byte("Name:\tzombie\n"), "VmRSS"); err == nil {
		t.Error("missing VmRSS: no error")
	}
}

func TestLogRing(t *testing.T) {
	var lines []string
	l := newLogRing(3, nil, func(s string) { lines = append(lines, s) })
	// Lines split across writes, and more lines than the ring holds.
	for _, w := range []string{"one\ntw", "o\nthree\n", "level=INFO msg=\"offload ready\" addr=127.0.0.1:4242 mode=x\nfive\nsix"} {
		if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	want := []string{"three", `level=INFO msg="offload ready" addr=127.0.0.1:4242 mode=x`, "five", "six"}
	if got := l.tail(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("tail = %q, want %q", got, want)
	}
	if len(lines) != 5 || lines[1] != "two" {
		t.Errorf("OnLine saw %q, want the 5 complete lines", lines)
	}
	select {
	case addr := <-l.ready:
		if addr != "127.0.0.1:4242" {
			t.Errorf("ready address %q", addr)
		}
	default:
		t.Error("the ready line was not noticed")
	}
	long := strings.Repeat("x", 3*maxLineBytes)
	l.Write([]byte(long + "\n"))
	if got := l.tail(); len(got[len(got)-1]) != maxLineBytes {
		t.Errorf("a long line was kept with %d bytes, want %d", len(got[len(got)-1]), maxLineBytes)
	}
}

func TestEnvironWith(t *testing.T) {
	env := []string{"A=1", "GOMAXPROCS=8", "B=2"}
	if got := strings.Join(environWith(env, "GOMAXPROCS", 2), " "); got != "A=1 B=2 GOMAXPROCS=2" {
		t.Errorf("set: %s", got)
	}
	if got := strings.Join(environWith(env, "GOMAXPROCS", 0), " "); got != "A=1 B=2" {
		t.Errorf("unset: %s", got)
	}
}
