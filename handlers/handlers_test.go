package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"offload/metrics"
	"offload/work"
	"offload/workers"
)

// fakeRunner runs tasks inline or fails with err; saturated is what
// Saturated reports.
type fakeRunner struct {
	err       error
	saturated bool
	calls     int
}

func (f *fakeRunner) Do(t workers.Task) (workers.Timing, error) {
	f.calls++
	if f.err != nil {
		return workers.Timing{}, f.err
	}
	t.Run()
	return workers.Timing{}, nil
}

func (f *fakeRunner) Saturated() bool { return f.saturated }

// oneNanoPerIteration makes durations map to iteration counts exactly:
// 5us of work is 5000 iterations.
var oneNanoPerIteration = work.Calibration{NanosPerIteration: 1}

func newHandler(r workers.Runner, draining bool) (*Handler, *metrics.Metrics) {
	m := metrics.New()
	return New(Config{
		Runner:      r,
		Calibration: oneNanoPerIteration,
		DefaultWork: 5 * time.Microsecond,
		MaxWork:     time.Millisecond,
		QueueSize:   64,
		Draining:    func() bool { return draining },
		Metrics:     m,
	}), m
}

func serve(h *Handler, method, uri string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	h.Serve(&ctx)
	var resp fasthttp.Response
	ctx.Response.CopyTo(&resp)
	return &resp
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		method, uri string
		code        int
		body        string // a substring of the one-line reason
	}{
		{"GET", "/data?work=abc", 400, `bad work "abc": want a duration such as 2ms`},
		{"GET", "/data?work=", 400, `bad work "": want a duration`},
		{"GET", "/data?work=5", 400, `bad work "5": want a duration`},
		{"GET", "/data?work=-1ms", 400, "bad work -1ms: must not be negative"},
		{"GET", "/data?work=2ms", 400, "bad work 2ms: above the server's -max-work of 1ms"},
		{"GET", "/data?work=1h", 400, "above the server's -max-work"},
		{"POST", "/data", 405, "method not allowed: POST (use GET or HEAD)"},
		{"DELETE", "/healthz", 405, "method not allowed: DELETE"},
		{"PUT", "/metrics", 405, "method not allowed: PUT"},
		{"GET", "/", 404, "not found: /; endpoints are /data, /healthz, /readyz and /metrics"},
		{"GET", "/data/", 404, "not found: /data/"},
		{"GET", "/DATA", 404, "not found: /DATA"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.uri, func(t *testing.T) {
			runner := &fakeRunner{}
			h, _ := newHandler(runner, false)
			resp := serve(h, tc.method, tc.uri)
			if resp.StatusCode() != tc.code {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode(), tc.code, resp.Body())
			}
			body := string(resp.Body())
			if !strings.Contains(body, tc.body) || strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") {
				t.Fatalf("body %q, want one line containing %q", body, tc.body)
			}
			if ct := string(resp.Header.ContentType()); !strings.HasPrefix(ct, "text/plain") {
				t.Fatalf("Content-Type %q, want text/plain", ct)
			}
			if tc.code == 405 && string(resp.Header.Peek("Allow")) != "GET, HEAD" {
				t.Fatalf("405 without Allow: GET, HEAD (got %q)", resp.Header.Peek("Allow"))
			}
			if runner.calls != 0 {
				t.Fatal("bad input reached the worker pool")
			}
		})
	}
}

func TestDataBody(t *testing.T) {
	cases := []struct {
		uri  string
		want string
	}{
		// The default work, 5us at 1ns per iteration: the original's 5000.
		{"/data", `{"street":"10 Downing Street","city":"Value: 4999","count":53890}`},
		{"/data?work=10ns", `{"street":"10 Downing Street","city":"Value: 9","count":80}`},
		{"/data?work=0s", `{"street":"10 Downing Street","city":"","count":0}`},
		{"/data?other=1&work=1ns", `{"street":"10 Downing Street","city":"Value: 0","count":8}`},
	}
	for _, tc := range cases {
		h, _ := newHandler(workers.NewInline(metrics.New()), false)
		resp := serve(h, "GET", tc.uri)
		if resp.StatusCode() != 200 || string(resp.Body()) != tc.want {
			t.Errorf("GET %s = %d %s, want 200 %s", tc.uri, resp.StatusCode(), resp.Body(), tc.want)
		}
		if ct := string(resp.Header.ContentType()); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q, want application/json", tc.uri, ct)
		}
	}
}

func TestDataBodyIsNotSharedBetweenRequests(t *testing.T) {
	// Tasks and their buffers are recycled; a response must own its body.
	h, _ := newHandler(workers.NewInline(metrics.New()), false)
	first := serve(h, "GET", "/data?work=10ns")
	serve(h, "GET", "/data?work=1us")
	if want := `{"street":"10 Downing Street","city":"Value: 9","count":80}`; string(first.Body()) != want {
		t.Fatalf("first body changed to %s", first.Body())
	}
}

func TestRefusedWork(t *testing.T) {
	cases := []struct {
		err  error
		code int
		body string
	}{
		{workers.ErrQueueFull, 503, "server busy: the work queue is full (64 jobs); retry later"},
		{workers.ErrQueueTimeout, 503, "-queue-timeout"},
		{workers.ErrStopped, 503, "shutting down"},
		{fmt.Errorf("%w: boom", workers.ErrTaskPanicked), 500, "internal error"},
	}
	for _, tc := range cases {
		h, m := newHandler(&fakeRunner{err: tc.err}, false)
		resp := serve(h, "GET", "/data")
		if resp.StatusCode() != tc.code || !bytes.Contains(resp.Body(), []byte(tc.body)) {
			t.Errorf("%v: %d %q, want %d containing %q", tc.err, resp.StatusCode(), resp.Body(), tc.code, tc.body)
		}
		retry := string(resp.Header.Peek("Retry-After"))
		if tc.code == 503 && retry != "1" {
			t.Errorf("%v: Retry-After %q, want 1", tc.err, retry)
		}
		if tc.code != 503 && retry != "" {
			t.Errorf("%v: Retry-After %q on a %d", tc.err, retry, tc.code)
		}
		var out bytes.Buffer
		m.WritePrometheus(&out)
		if want := fmt.Sprintf(`offload_http_requests_total{path="/data",code="%d"} 1`, tc.code); !strings.Contains(out.String(), want) {
			t.Errorf("%v: metrics lack %s", tc.err, want)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	cases := []struct {
		name      string
		draining  bool
		saturated bool
		readyz    int
	}{
		{"idle", false, false, 200},
		{"queue full", false, true, 503},
		{"draining", true, false, 503},
	}
	for _, tc := range cases {
		runner := &fakeRunner{saturated: tc.saturated}
		h, _ := newHandler(runner, tc.draining)
		if resp := serve(h, "GET", "/healthz"); resp.StatusCode() != 200 || string(resp.Body()) != "ok\n" {
			t.Errorf("%s: /healthz %d %q, want 200 ok", tc.name, resp.StatusCode(), resp.Body())
		}
		if resp := serve(h, "GET", "/readyz"); resp.StatusCode() != tc.readyz {
			t.Errorf("%s: /readyz %d %q, want %d", tc.name, resp.StatusCode(), resp.Body(), tc.readyz)
		}
		if runner.calls != 0 {
			t.Errorf("%s: health checks ran work", tc.name)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	h, _ := newHandler(workers.NewInline(metrics.New()), false)
	serve(h, "GET", "/data")
	serve(h, "GET", "/nope")
	resp := serve(h, "GET", "/metrics")
	body := string(resp.Body())
	if resp.StatusCode() != 200 || !strings.HasPrefix(string(resp.Header.ContentType()), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics %d %q", resp.StatusCode(), resp.Header.ContentType())
	}
	for _, want := range []string{
		`offload_http_requests_total{path="/data",code="200"} 1`,
		`offload_http_requests_total{path="other",code="404"} 1`,
		`offload_request_duration_seconds_count{path="/data"} 1`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestParseWork(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true}, {"2ms", 2 * time.Millisecond, true}, {"500us", 500 * time.Microsecond, true},
		{"1s", time.Second, true}, {"1.5ms", 1500 * time.Microsecond, true},
		{"1s1ns", 0, false}, {"-0s", 0, true}, {"-1ns", 0, false}, {"1e3ms", 0, false}, {" 1ms", 0, false},
	} {
		d, err := ParseWork([]byte(tc.in), time.Second)
		if (err == nil) != tc.ok || d != tc.want {
			t.Errorf("ParseWork(%q) = %v, %v; want %v, ok=%v", tc.in, d, err, tc.want, tc.ok)
		}
	}
}

func TestErrorHandler(t *testing.T) {
	m := metrics.New()
	eh := ErrorHandler(m, 8192, 4096)
	cases := []struct {
		err  error
		code int
		body string
	}{
		{&fasthttp.ErrSmallBuffer{}, 431, "request header too large: the limit is 8192 bytes (-max-header-bytes)"},
		{fasthttp.ErrBodyTooLarge, 413, "request body too large: the limit is 4096 bytes (-max-body)"},
		{errors.New("cannot parse"), 400, "malformed HTTP request"},
	}
	for _, tc := range cases {
		var ctx fasthttp.RequestCtx
		eh(&ctx, tc.err)
		if ctx.Response.StatusCode() != tc.code || !strings.Contains(string(ctx.Response.Body()), tc.body) {
			t.Errorf("%v: %d %q, want %d %q", tc.err, ctx.Response.StatusCode(), ctx.Response.Body(), tc.code, tc.body)
		}
	}
}

// BenchmarkData measures a whole /data request through the handler with
// the smallest work, inline and through a pool: what the hand-off costs
// and allocates per request.
func BenchmarkData(b *testing.B) {
	for _, mode := range []string{"inline", "pool"} {
		b.Run(mode, func(b *testing.B) {
			m := metrics.New()
			var r workers.Runner = workers.NewInline(m)
			if mode == "pool" {
				p, err := workers.NewPool(workers.Config{Workers: 2, QueueSize: 64}, m)
				if err != nil {
					b.Fatal(err)
				}
				defer p.Stop()
				r = p
			}
			h := New(Config{Runner: r, Calibration: oneNanoPerIteration, DefaultWork: 10, MaxWork: time.Second, Metrics: m})
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.SetRequestURI("/data")
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				h.Serve(&ctx)
			}
		})
	}
}
