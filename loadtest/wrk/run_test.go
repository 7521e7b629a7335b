package wrk

import (
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
	o.Latency, o.Close, o.Timeout = true, true, 5*time.Second
	o.Headers = []string{"X-Mode: offload", "Accept: */*"}
	got, err := o.Args()
	if err != nil {
		t.Fatal(err)
	}
	want := "-t 2 -c 4 -d 2s --timeout 5s --latency -H Connection: close -H X-Mode: offload -H Accept: */* http://127.0.0.1:8080/data"
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
		{"header without space", func(o *Options) { o.Headers = []string{"X-A:b"} }, `"Name: value"`},
		{"header without name", func(o *Options) { o.Headers = []string{": b"} }, `"Name: value"`},
		{"header with newline", func(o *Options) { o.Headers = []string{"X-A: b\r\nX-B: c"} }, "line breaks"},
		{"connection header with Close", func(o *Options) {
			o.Close = true
			o.Headers = []string{"connection: keep-alive"}
		}, "conflicts with Close"},
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
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("passes arguments and parses output", func(t *testing.T) {
		argsFile := filepath.Join(t.TempDir(), "args")
		fakeWrk(t, fmt.Sprintf(`for a in "$@"; do printf '%%s\n' "$a"; done > %q; /bin/cat %q`,
			argsFile, filepath.Join(testdata, "recorded_keepalive_latency.txt")))
		o := validOptions()
		o.Latency, o.Headers = true, []string{"X-Mode: inline"}
		res, raw, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests != 100927 || !strings.HasPrefix(raw, "Running 2s test") {
			t.Errorf("Run = %d requests, raw %q; want the recorded output", res.Requests, raw)
		}
		gotArgs, err := os.ReadFile(argsFile)
		if err != nil {
			t.Fatal(err)
		}
		// One argument per line proves "X-Mode: inline" arrived as one argv entry.
		want := "-t\n2\n-c\n4\n-d\n2s\n--latency\n-H\nX-Mode: inline\nhttp://127.0.0.1:8080/data\n"
		if string(gotArgs) != want {
			t.Errorf("wrk argv:\n%s\nwant:\n%s", gotArgs, want)
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
		if err == nil || !strings.Contains(err.Error(), "parsing output of wrk") {
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
				Latency: true, Close: close, URL: cs.url})
			cs.stop(t)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, raw)
			}
			accepted, served := cs.accepted.Load(), cs.served.Load()
			t.Logf("wrk requests=%d runtime=%v; server accepted=%d served=%d max/conn=%d",
				res.Requests, res.Runtime, accepted, served, cs.maxPer)

			if res.Threads != threads || res.Connections != conns || res.URL != cs.url {
				t.Errorf("parsed %d threads, %d connections, URL %q; want %d, %d, %q",
					res.Threads, res.Connections, res.URL, threads, conns, cs.url)
			}
			// Errors would break the accounting below; report them plainly.
			if res.SocketErrors.Total() != 0 || res.Non2xx3xx != 0 {
				t.Fatalf("wrk saw errors %+v, non-2xx %d:\n%s", res.SocketErrors, res.Non2xx3xx, raw)
			}
			if res.Requests == 0 {
				t.Fatalf("wrk completed no requests:\n%s", raw)
			}
			if d := served - res.Requests; d < 0 || d > conns {
				t.Errorf("server served %d, wrk counted %d: difference %d outside [0, %d]", served, res.Requests, d, conns)
			}
			if _, ok := res.Percentile(99); !ok {
				t.Errorf("no p99 with Latency set:\n%s", raw)
			}
			// Requests/sec is Requests over the runtime that wrk prints
			// rounded to 10ms, so allow 2% for that rounding at ~1s.
			if rate := float64(res.Requests) / res.Runtime.Seconds(); math.Abs(res.RequestsPerSec-rate) > 0.02*rate {
				t.Errorf("Requests/sec %.2f, but %d requests in %v is %.2f/s", res.RequestsPerSec, res.Requests, res.Runtime, rate)
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
