package wrk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func validOptions() Options {
	return Options{Threads: 2, Connections: 4, Duration: 2 * time.Second, URL: "http://127.0.0.1:8080/data"}
}

func TestOptionsArgs(t *testing.T) {
	o := validOptions()
	o.Close, o.Timeout = true, 5*time.Second
	got, err := o.Args()
	if err != nil {
		t.Fatal(err)
	}
	want := "-t 2 -c 4 -d 2s --timeout 5s -H Connection: close http://127.0.0.1:8080/data"
	if strings.Join(got, " ") != want {
		t.Errorf("Args = %q\nwant   %q", strings.Join(got, " "), want)
	}
	got, err = validOptions().Args()
	if err != nil {
		t.Fatal(err)
	}
	if want := "-t 2 -c 4 -d 2s http://127.0.0.1:8080/data"; strings.Join(got, " ") != want {
		t.Errorf("Args without extras = %q, want %q", strings.Join(got, " "), want)
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*Options)
		want   string // substring of the error
	}{
		{"no threads", func(o *Options) { o.Threads = 0 }, "threads is 0"},
		{"fewer connections than threads", func(o *Options) { o.Connections = 1 }, "connections (1) must be >= threads (2)"},
		{"connections not a multiple", func(o *Options) { o.Connections = 5 }, "would silently use only 4"},
		{"zero duration", func(o *Options) { o.Duration = 0 }, "whole number of seconds"},
		{"sub-second duration", func(o *Options) { o.Duration = 1500 * time.Millisecond }, "duration 1.5s"},
		{"sub-second timeout", func(o *Options) { o.Timeout = 500 * time.Millisecond }, "timeout 500ms"},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "timeout -1s"},
		{"empty URL", func(o *Options) { o.URL = "" }, "scheme http or https"},
		{"relative URL", func(o *Options) { o.URL = "/data" }, "scheme http or https"},
		{"ftp URL", func(o *Options) { o.URL = "ftp://127.0.0.1/" }, "scheme http or https"},
		{"unparsable URL", func(o *Options) { o.URL = "http://[::1" }, "URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions()
			tc.modify(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
			// Run must refuse the same options before looking for wrk.
			if _, _, runErr := Run(context.Background(), o); runErr == nil || runErr.Error() != err.Error() {
				t.Errorf("Run error = %v, want the validation error %v", runErr, err)
			}
		})
	}
	if err := validOptions().Validate(); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
}

func TestRunNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, _, err := Run(context.Background(), validOptions())
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Run error = %v, want ErrNotInstalled", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "apt-get install -y wrk") {
		t.Errorf("error %q should be one line that says how to install wrk", msg)
	}
}

// fakeWrk puts an executable named wrk running script on PATH, so Run's
// plumbing is tested whether or not the real wrk is installed.
func fakeWrk(t *testing.T, script string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wrk"), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
}

func TestRunFakeWrk(t *testing.T) {
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh for the fake wrk script")
	}
	t.Run("passes arguments and the script, reads its results", func(t *testing.T) {
		dir := t.TempDir()
		argsFile, scriptCopy := filepath.Join(dir, "args"), filepath.Join(dir, "script")
		// The fake keeps its argv and a copy of the script (Run removes
		// its temporary file), then prints wrk's summary and a result line.
		fakeWrk(t, fmt.Sprintf(`for a in "$@"; do printf '%%s\n' "$a"; done > %q; /bin/cp "$2" %q
echo "Running 2s test @ http://127.0.0.1:8080/data"
echo '%s{"requests":100927,"duration_us":2001234,"bytes":9083430,"errors":{"connect":1,"read":2,"write":3,"status":4,"timeout":5},"latency_us":{"min":21,"max":9120,"mean":77.25,"stdev":40.5,"p50":70,"p90":110,"p99":240,"p99_9":1999}}'`,
			argsFile, scriptCopy, jsonPrefix))
		o := validOptions()
		o.Close = true
		res, raw, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		want := Result{Requests: 100927, Runtime: 2001234 * time.Microsecond, Bytes: 9083430,
			Errors: Errors{Connect: 1, Read: 2, Write: 3, Status: 4, Timeout: 5},
			Latency: Latency{Min: 21 * time.Microsecond, Max: 9120 * time.Microsecond, Mean: 77250 * time.Nanosecond,
				Stdev: 40500 * time.Nanosecond, P50: 70 * time.Microsecond, P90: 110 * time.Microsecond,
				P99: 240 * time.Microsecond, P99_9: 1999 * time.Microsecond}}
		if res != want {
			t.Errorf("Run = %+v\nwant  %+v", res, want)
		}
		if !strings.HasPrefix(raw, "Running 2s test") {
			t.Errorf("raw output %q, want the fake's output", raw)
		}
		if got := res.Errors.Socket(); got != 11 {
			t.Errorf("Errors.Socket = %d, want connect+read+write+timeout = 11", got)
		}
		if got, want := res.RequestsPerSec(), 100927/2.001234; math.Abs(got-want) > 1e-9 {
			t.Errorf("RequestsPerSec = %v, want %v", got, want)
		}
		gotArgs, err := os.ReadFile(argsFile)
		if err != nil {
			t.Fatal(err)
		}
		// One argument per line proves "Connection: close" arrived as one argv entry.
		lines := strings.SplitAfter(string(gotArgs), "\n")
		if len(lines) < 2 || lines[0] != "-s\n" {
			t.Fatalf("wrk argv:\n%s\nwant -s <script> first", gotArgs)
		}
		if rest, want := strings.Join(lines[2:], ""), "-t\n2\n-c\n4\n-d\n2s\n-H\nConnection: close\nhttp://127.0.0.1:8080/data\n"; rest != want {
			t.Errorf("wrk argv after the script:\n%s\nwant:\n%s", rest, want)
		}
		script, err := os.ReadFile(scriptCopy)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(script, reportScript) {
			t.Errorf("script passed to wrk differs from report.lua:\n%s", script)
		}
	})

	t.Run("exit status and stderr are reported", func(t *testing.T) {
		fakeWrk(t, `echo "unable to connect to 127.0.0.1:1 Connection refused" >&2; exit 1`)
		_, _, err := Run(context.Background(), validOptions())
		if err == nil || !strings.Contains(err.Error(), "exit status 1: unable to connect to 127.0.0.1:1 Connection refused") {
			t.Errorf("Run error = %v, want exit status and wrk's stderr", err)
		}
	})

	t.Run("unparsable output is returned raw", func(t *testing.T) {
		fakeWrk(t, `echo "something else entirely"`)
		_, raw, err := Run(context.Background(), validOptions())
		if err == nil || !strings.Contains(err.Error(), "no results from the report script") {
			t.Errorf("Run error = %v, want a parse error", err)
		}
		if raw != "something else entirely\n" {
			t.Errorf("raw output = %q, want the fake's output", raw)
		}
	})

	t.Run("cancellation kills wrk", func(t *testing.T) {
		fakeWrk(t, `exec /bin/sleep 60`)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := Run(ctx, validOptions())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run error = %v, want context.DeadlineExceeded", err)
		}
		// Generous for a loaded machine, far below the fake's 60s.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Run returned after %v, want soon after cancellation", d)
		}
	})
}

// countingServer is an HTTP server on 127.0.0.1 that counts accepted
// connections, served requests, and the most requests one connection carried.
type countingServer struct {
	srv      *http.Server
	url      string
	done     chan error
	accepted atomic.Int64
	served   atomic.Int64
	mu       sync.Mutex
	maxPer   int64
}

type connCounterKey struct{}

func startCountingServer(t *testing.T) *countingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingServer{url: "http://" + ln.Addr().String() + "/data", done: make(chan error, 1)}
	cs.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			cs.accepted.Add(1)
			return context.WithValue(ctx, connCounterKey{}, new(atomic.Int64))
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Counted before the response is written, so every response
			// wrk completes was counted here first.
			cs.served.Add(1)
			n := r.Context().Value(connCounterKey{}).(*atomic.Int64).Add(1)
			cs.mu.Lock()
			cs.maxPer = max(cs.maxPer, n)
			cs.mu.Unlock()
			_, _ = w.Write([]byte("ok\n"))
		}),
	}
	go func() { cs.done <- cs.srv.Serve(ln) }()
	return cs
}

// stop waits for in-flight handlers, so the counts are final.
func (cs *countingServer) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cs.srv.Shutdown(ctx); err != nil {
		t.Errorf("server shutdown: %v", err)
	}
	if err := <-cs.done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("server: %v", err)
	}
}

// TestRunRealWrk drives the installed wrk against a local server and
// checks wrk's count against the server's.
//
// wrk's accounting, from wrk.c and wrk.lua (4.1.0):
//   - Before the run wrk.resolve probes the address with one connect and
//     close (wrk.connect), so the server accepts one extra connection that
//     carries no request.
//   - Each connection has at most one request in flight (no pipelining
//     without a script). When the run ends each thread stops at its next
//     100ms tick and wrk exits without reading outstanding responses, so
//     the server can have served up to one more request per connection
//     than wrk counted: 0 <= served - Requests <= Connections.
//   - With "Connection: close", a completed response makes wrk reconnect
//     that slot, so wrk creates 1 + Requests + Connections sockets; the
//     server accepts all but possibly the last one per slot still in the
//     backlog at shutdown: Requests+1 <= accepted <= Requests+1+Connections.
func TestRunRealWrk(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk not installed; apt-get install -y wrk to run this test")
	}
	const threads, conns = 2, 4
	for _, close := range []bool{false, true} {
		t.Run(fmt.Sprintf("close=%v", close), func(t *testing.T) {
			cs := startCountingServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, raw, err := Run(ctx, Options{Threads: threads, Connections: conns, Duration: time.Second,
				Close: close, URL: cs.url})
			cs.stop(t)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, raw)
			}
			accepted, served := cs.accepted.Load(), cs.served.Load()
			t.Logf("wrk requests=%d runtime=%v; server accepted=%d served=%d max/conn=%d",
				res.Requests, res.Runtime, accepted, served, cs.maxPer)

			// Errors would break the accounting below; report them plainly.
			if res.Errors != (Errors{}) {
				t.Fatalf("wrk saw errors %+v:\n%s", res.Errors, raw)
			}
			if res.Requests == 0 {
				t.Fatalf("wrk completed no requests:\n%s", raw)
			}
			if d := served - res.Requests; d < 0 || d > conns {
				t.Errorf("server served %d, wrk counted %d: difference %d outside [0, %d]", served, res.Requests, d, conns)
			}
			// Each response is "ok\n" plus headers: wrk's byte count must
			// cover at least the bodies.
			if res.Bytes < 3*res.Requests {
				t.Errorf("wrk read %d bytes for %d responses of 3-byte bodies", res.Bytes, res.Requests)
			}
			l := res.Latency
			if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P99_9 && l.P99_9 <= l.Max) {
				t.Errorf("latencies out of order or empty: %+v", l)
			}
			if l.Mean < l.Min || l.Mean > l.Max {
				t.Errorf("mean latency %v outside [min %v, max %v]", l.Mean, l.Min, l.Max)
			}
			// wrk runs for -d and stops at its threads' next 100 ms tick.
			if res.Runtime < time.Second || res.Runtime > 5*time.Second {
				t.Errorf("runtime %v for a 1s run", res.Runtime)
			}

			if !close {
				if accepted != conns+1 {
					t.Errorf("keep-alive run: server accepted %d connections, want %d (+1 for wrk's resolve probe)", accepted, conns+1)
				}
				if cs.maxPer < 2 {
					t.Errorf("keep-alive run: at most %d request per connection, want connections reused", cs.maxPer)
				}
				return
			}
			if cs.maxPer != 1 {
				t.Errorf("close run: a connection carried %d requests, want exactly 1", cs.maxPer)
			}
			if lo, hi := res.Requests+1, res.Requests+1+conns; accepted < lo || accepted > hi {
				t.Errorf("close run: server accepted %d connections for %d requests, want within [%d, %d]", accepted, res.Requests, lo, hi)
			}
		})
	}
}
