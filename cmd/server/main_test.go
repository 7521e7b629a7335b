package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"offload/config"
	"offload/internal/await"
	"offload/internal/testbin"
)

// serverBin is the server binary, built once for the tests that need a real
// process: signals, exit codes and resource limits are per process.
var serverBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m, func(bins []string) { serverBin = bins[0] }, "./cmd/server"))
}

// child is a server process listening on 127.0.0.1.
type child struct {
	cmd    *exec.Cmd
	addr   string
	logs   *lockedBuffer
	exited chan struct{}
	err    error // what Wait returned, once exited is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var readyAddr = regexp.MustCompile(`msg="offload ready" addr=(\S+)`)

// startChild runs the server with args, through "sh -c" when a shell
// prefix such as "ulimit -n 64" is given, and waits until it listens.
func startChild(t *testing.T, shellPrefix string, args ...string) *child {
	t.Helper()
	args = append([]string{"-addr", "127.0.0.1:0"}, args...)
	var cmd *exec.Cmd
	if shellPrefix != "" {
		cmd = exec.Command("sh", append([]string{"-c", shellPrefix + ` && exec "$0" "$@"`, serverBin}, args...)...)
	} else {
		cmd = exec.Command(serverBin, args...)
	}
	c := &child{cmd: cmd, logs: &lockedBuffer{}, exited: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(c.logs, line)
			if m := readyAddr.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
		if t.Failed() {
			t.Logf("server log:\n%s", c.logs.String())
		}
	})
	select {
	case c.addr = <-addr:
	case <-c.exited:
		t.Fatalf("server exited before listening: %v\n%s", c.err, c.logs.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("server did not log its address within 10s:\n%s", c.logs.String())
	}
	return c
}

// wait returns the exit code once the process has exited.
func (c *child) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(limit):
		t.Fatalf("server still running %v after it should have exited", limit)
	}
	if c.err == nil {
		return 0
	}
	if ee, ok := c.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("wait: %v", c.err)
	return -1
}

// cpuSeconds is the CPU time the process has used so far.
func (c *child) cpuSeconds(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (100 per second).
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

func get(addr, path string, timeout time.Duration) (int, string, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func metricValue(t *testing.T, addr, series string) float64 {
	t.Helper()
	_, body, err := get(addr, "/metrics", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

type reply struct {
	code int
	err  error
}

func TestSIGTERMDrainsInFlightAndExitsZero(t *testing.T) {
	c := startChild(t, "", "-pool", "1", "-queue", "8", "-shutdown-timeout", "10s")
	var replies []chan reply
	for range 3 {
		ch := make(chan reply, 1)
		replies = append(replies, ch)
		go func() {
			code, _, err := get(c.addr, "/data?work=300ms", 10*time.Second)
			ch <- reply{code, err}
		}()
	}
	await.True(t, "one job running and two queued", 5*time.Second, func() bool {
		return metricValue(t, c.addr, "offload_jobs_running") == 1 && metricValue(t, c.addr, "offload_jobs_queued") == 2
	})

	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	await.True(t, "new connections to be refused", 2*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", c.addr, 500*time.Millisecond)
		if err == nil {
			conn.Close()
			return false
		}
		return strings.Contains(err.Error(), "connection refused")
	})
	for i, ch := range replies {
		if r := <-ch; r.err != nil || r.code != 200 {
			t.Errorf("request %d in flight at SIGTERM: %d %v, want 200", i, r.code, r.err)
		}
	}
	if code := c.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d after a clean drain, want 0", code)
	}
	logs := c.logs.String()
	for _, want := range []string{"received signal", "waiting on ", "shutdown complete"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	const job = 3 * time.Second
	c := startChild(t, "", "-pool", "1", "-shutdown-timeout", "30s", "-max-work", job.String())
	answered := make(chan int, 1)
	go func() {
		code, _, _ := get(c.addr, "/data?work="+job.String(), 10*time.Second)
		answered <- code
	}()
	await.True(t, "a running job", 5*time.Second, func() bool { return metricValue(t, c.addr, "offload_jobs_running") == 1 })
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	await.True(t, "the drain to start", 5*time.Second, func() bool { return strings.Contains(c.logs.String(), "shutting down") })
	start := time.Now()
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	if code := c.wait(t, 5*time.Second); code != 1 {
		t.Fatalf("exit status %d after a second signal, want 1", code)
	}
	// At once: before the running job could finish, so its request is cut
	// off rather than answered.
	if d := time.Since(start); d > job/2 {
		t.Fatalf("second signal took %v to exit, over half the running job (%v)", d, job)
	}
	if code := <-answered; code == 200 {
		t.Fatal("the running job was answered: the second signal waited for the drain")
	}
}

// TestEMFILEFlood is the accept-loop test of the async-std book, automated:
// the server runs with a low fd limit and a connection cap above it, and is
// flooded with more connections than it has descriptors.
func TestEMFILEFlood(t *testing.T) {
	const fdLimit, flood = 64, 200
	c := startChild(t, fmt.Sprintf("ulimit -n %d", fdLimit),
		"-max-conns", "200", "-acceptors", "2", "-accept-pause", "100ms", "-read-timeout", "30s", "-idle-timeout", "30s")
	if !strings.Contains(c.logs.String(), "exceeds the fd limit") {
		t.Errorf("no start-up warning about -max-conns above the fd limit")
	}

	var conns []net.Conn
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	for i := range flood {
		conn, err := net.DialTimeout("tcp", c.addr, 2*time.Second)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		conns = append(conns, conn)
	}
	await.True(t, `"too many open files" in the log`, 5*time.Second, func() bool {
		return strings.Contains(c.logs.String(), "too many open files")
	})

	// Measure CPU while the flood holds every descriptor: an accept loop
	// that retried at once would burn a whole core.
	const window = 2 * time.Second
	before := c.cpuSeconds(t)
	time.Sleep(window)
	used := (c.cpuSeconds(t) - before) / window.Seconds()
	if used > 0.25 {
		t.Errorf("server used %.2f cores while flooded, want well under one", used)
	}
	t.Logf("CPU while flooded: %.3f cores", used)

	logs := c.logs.String()
	for _, want := range []string{"level=WARN", "ulimit -n", "set -max-conns to at most 28"} {
		if !strings.Contains(logs, want) {
			t.Errorf("EMFILE warning lacks %q", want)
		}
	}
	// One line per pause across both acceptors: at most window/pause+2.
	if n := strings.Count(logs, "too many open files"); n > int(window/(100*time.Millisecond))+4 {
		t.Errorf("%d EMFILE warnings in about %v with a 100ms pause: the storm is not rate-limited", n, window)
	}

	for _, conn := range conns {
		conn.Close()
	}
	conns = nil
	start := time.Now()
	code, body, err := get(c.addr, "/healthz", 3*time.Second)
	if err != nil || code != 200 || body != "ok\n" {
		t.Fatalf("/healthz after the flood: %d %q %v", code, body, err)
	}
	t.Logf("/healthz answered %v after the flood ended", time.Since(start))
	select {
	case <-c.exited:
		t.Fatalf("server exited during the flood: %v", c.err)
	default:
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-h"}, &out); code != 0 {
		t.Fatalf("-h exited %d, want 0", code)
	}
	cfg := config.Default()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "  -"+f.Name+" ") && !strings.Contains(out.String(), "  -"+f.Name+"\n") {
			t.Errorf("-h does not document -%s", f.Name)
		}
	})
}

func TestREADMEDocumentsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(string(readme), "| `-"+f.Name+"` |") {
			t.Errorf("README.md's flags table has no row for -%s", f.Name)
		}
	})
}

func TestBadFlagsExitTwo(t *testing.T) {
	for _, args := range [][]string{{"-pool", "-1"}, {"-mode", "sideways"}, {"-nope"}, {"extra"}} {
		var out bytes.Buffer
		if code := run(args, &out); code != 2 {
			t.Errorf("%v exited %d, want 2", args, code)
		}
		if out.Len() == 0 {
			t.Errorf("%v exited without saying why", args)
		}
	}
}
