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
	"offload/overload"
	"offload/work"
	"offload/workers"
)

// fakeRunner runs tasks inline, or answers with result when its Outcome is
// not Admitted or it has an Err; unready is what Unready reports, and req
// the last request it was given.
type fakeRunner struct {
	result  workers.Result
	unready string
	calls   int
	req     workers.Request
	delay   time.Duration // before running the task
}

func (f *fakeRunner) Do(t workers.Task, req workers.Request) workers.Result {
	f.calls++
	f.req = req
	time.Sleep(f.delay)
	if f.result.Outcome != overload.Admitted || f.result.Err != nil {
		return f.result
	}
	t.Run()
	return workers.Result{}
}

func (f *fakeRunner) Unready() string { return f.unready }
func (f *fakeRunner) Queued() int     { return 0 }
func (f *fakeRunner) Running() int    { return 0 }

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

// serveData sends GET /data, with the headers setHeader adds, through h.
func serveData(h *Handler, setHeader func(*fasthttp.RequestHeader)) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/data")
	setHeader(&ctx.Request.Header)
	h.Serve(ctx)
	return ctx
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
	// The first response stays in its RequestCtx, uncopied, while the
	// second request reuses the task: were its body the task's buffer
	// (SetBodyRaw), the second answer would overwrite it.
	h, _ := newHandler(workers.NewInline(metrics.New()), false)
	var first, second fasthttp.RequestCtx
	for _, c := range []struct {
		ctx *fasthttp.RequestCtx
		uri string
	}{{&first, "/data?work=10ns"}, {&second, "/data?work=1us"}} {
		c.ctx.Request.Header.SetMethod("GET")
		c.ctx.Request.SetRequestURI(c.uri)
		h.Serve(c.ctx)
	}
	if bytes.Equal(first.Response.Body(), second.Response.Body()) {
		t.Fatalf("both requests got %s; the test needs answers that differ", first.Response.Body())
	}
	if want := `{"street":"10 Downing Street","city":"Value: 9","count":80}`; string(first.Response.Body()) != want {
		t.Fatalf("first body changed to %s", first.Response.Body())
	}
}

func TestRefusedWork(t *testing.T) {
	cases := []struct {
		result workers.Result
		code   int
		body   string
	}{
		{workers.Result{Outcome: overload.QueueFull, RetryAfter: 1}, 503, "server busy: the work queue is full (64 jobs); retry later"},
		{workers.Result{Outcome: overload.PredictedWait, RetryAfter: 3}, 503, "would wait longer for a worker than the server admits under overload"},
		{workers.Result{Outcome: overload.Priority, RetryAfter: 2}, 503, "lower urgency (a higher Priority u) is refused first"},
		{workers.Result{Outcome: overload.DroppedStale, RetryAfter: 12}, 503, "waited in the queue longer than the server allows (-queue-timeout, or the bound under overload)"},
		{workers.Result{Outcome: overload.Deadline, RetryAfter: 1}, 503, "cannot finish within the request's deadline"},
		{workers.Result{Outcome: overload.Shutdown, RetryAfter: 1}, 503, "shutting down"},
		{workers.Result{Err: fmt.Errorf("%w: boom", workers.ErrTaskPanicked)}, 500, "internal error"},
	}
	for _, tc := range cases {
		h, m := newHandler(&fakeRunner{result: tc.result}, false)
		resp := serve(h, "GET", "/data")
		body := string(resp.Body())
		if resp.StatusCode() != tc.code || !strings.Contains(body, tc.body) || strings.Count(body, "\n") != 1 {
			t.Errorf("%v: %d %q, want %d and one line containing %q", tc.result.Outcome, resp.StatusCode(), body, tc.code, tc.body)
		}
		retry := string(resp.Header.Peek("Retry-After"))
		if want := fmt.Sprint(tc.result.RetryAfter); tc.code == 503 && retry != want {
			t.Errorf("%v: Retry-After %q, want %s", tc.result.Outcome, retry, want)
		}
		if tc.code != 503 && retry != "" {
			t.Errorf("%v: Retry-After %q on a %d", tc.result.Outcome, retry, tc.code)
		}
		var out bytes.Buffer
		m.WritePrometheus(&out)
		if want := fmt.Sprintf(`offload_http_requests_total{path="/data",code="%d"} 1`, tc.code); !strings.Contains(out.String(), want) {
			t.Errorf("%v: metrics lack %s", tc.result.Outcome, want)
		}
	}
}

func TestPriorityHeader(t *testing.T) {
	cases := []struct {
		values []string // one Priority field line each
		want   int
	}{
		{nil, 3},
		{[]string{"u=0"}, 0},
		{[]string{"u=7"}, 7},
		{[]string{"u=1, i"}, 1},
		{[]string{"i, u=5"}, 5},
		{[]string{"u=2", "i"}, 2},   // field lines combine
		{[]string{"u=2", "u=6"}, 6}, // the last member of a name wins
		{[]string{"x=9, u=4"}, 4},   // unknown parameters are ignored
		// RFC 9218 has receivers ignore what they cannot use: the default.
		{[]string{"u=8"}, 3},
		{[]string{"u=-1"}, 3},
		{[]string{"u=1.5"}, 3},
		{[]string{"u=high"}, 3},
		{[]string{"u"}, 3}, // a bare key is the boolean true
		{[]string{"u=="}, 3},
		{[]string{"i"}, 3},
	}
	for _, tc := range cases {
		runner := &fakeRunner{}
		h, _ := newHandler(runner, false)
		ctx := serveData(h, func(rh *fasthttp.RequestHeader) {
			for _, v := range tc.values {
				rh.Add("Priority", v)
			}
		})
		if ctx.Response.StatusCode() != 200 || runner.req.Urgency != tc.want {
			t.Errorf("Priority %q: %d, urgency %d; want 200 and %d", tc.values, ctx.Response.StatusCode(), runner.req.Urgency, tc.want)
		}
	}
}

func TestDeadlineHeaders(t *testing.T) {
	cases := []struct {
		header map[string]string
		budget time.Duration // 0: no deadline
		bad    string        // a 400's reason, or "" for none
	}{
		{nil, 0, ""},
		{map[string]string{"X-Envoy-Expected-Rq-Timeout-Ms": "250"}, 250 * time.Millisecond, ""},
		{map[string]string{"X-Request-Timeout": "1.5s"}, 1500 * time.Millisecond, ""},
		{map[string]string{"X-Envoy-Expected-Rq-Timeout-Ms": "15", "X-Request-Timeout": "1s"}, 15 * time.Millisecond, ""},
		{map[string]string{"X-Envoy-Expected-Rq-Timeout-Ms": "1500", "X-Request-Timeout": "20ms"}, 20 * time.Millisecond, ""},
		{map[string]string{"X-Envoy-Expected-Rq-Timeout-Ms": "abc"}, 0, `bad x-envoy-expected-rq-timeout-ms "abc": want a positive whole number of milliseconds`},
		{map[string]string{"X-Envoy-Expected-Rq-Timeout-Ms": "0"}, 0, `bad x-envoy-expected-rq-timeout-ms "0"`},
		{map[string]string{"X-Envoy-Expected-Rq-Timeout-Ms": "-5"}, 0, `bad x-envoy-expected-rq-timeout-ms "-5"`},
		{map[string]string{"X-Envoy-Expected-Rq-Timeout-Ms": "1.5"}, 0, `bad x-envoy-expected-rq-timeout-ms "1.5"`},
		{map[string]string{"X-Envoy-Expected-Rq-Timeout-Ms": "99999999999999999"}, 0, "bad x-envoy-expected-rq-timeout-ms"},
		{map[string]string{"X-Request-Timeout": "250"}, 0, `bad X-Request-Timeout "250": want a positive duration such as 250ms or 2s`},
		{map[string]string{"X-Request-Timeout": "-1s"}, 0, `bad X-Request-Timeout "-1s"`},
		{map[string]string{"X-Request-Timeout": "0s"}, 0, `bad X-Request-Timeout "0s"`},
		{map[string]string{"X-Request-Timeout": ""}, 0, `bad X-Request-Timeout ""`},
	}
	for _, tc := range cases {
		runner := &fakeRunner{}
		h, _ := newHandler(runner, false)
		before := time.Now()
		ctx := serveData(h, func(rh *fasthttp.RequestHeader) {
			for k, v := range tc.header {
				rh.Set(k, v)
			}
		})
		after := time.Now()
		body := string(ctx.Response.Body())
		if tc.bad != "" {
			if ctx.Response.StatusCode() != 400 || !strings.Contains(body, tc.bad) || strings.Count(body, "\n") != 1 || runner.calls != 0 {
				t.Errorf("%v: %d %q (work ran: %v), want 400 with %q", tc.header, ctx.Response.StatusCode(), body, runner.calls > 0, tc.bad)
			}
			continue
		}
		dl := runner.req.Deadline
		switch {
		case ctx.Response.StatusCode() != 200:
			t.Errorf("%v: %d %q, want 200", tc.header, ctx.Response.StatusCode(), body)
		case tc.budget == 0 && !dl.IsZero():
			t.Errorf("%v: deadline %v, want none", tc.header, dl)
		case tc.budget > 0 && (dl.Before(before.Add(tc.budget)) || dl.After(after.Add(tc.budget))):
			t.Errorf("%v: deadline %v after the request, want %v", tc.header, dl.Sub(before), tc.budget)
		}
	}
}

func TestDeadlineMissedIsCounted(t *testing.T) {
	for _, tc := range []struct {
		budget string
		missed float64
	}{{"1ms", 1}, {"10s", 0}} {
		h, m := newHandler(&fakeRunner{delay: 5 * time.Millisecond}, false)
		ctx := serveData(h, func(rh *fasthttp.RequestHeader) { rh.Set("X-Request-Timeout", tc.budget) })
		if got := float64(m.DeadlineMissed.Get()); ctx.Response.StatusCode() != 200 || got != tc.missed {
			t.Errorf("5 ms of work on a %s budget: %d, missed %v; want 200 and %v", tc.budget, ctx.Response.StatusCode(), got, tc.missed)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	cases := []struct {
		name     string
		draining bool
		unready  string
		readyz   int
	}{
		{"idle", false, "", 200},
		{"queue full", false, "the work queue is full", 503},
		{"draining", true, "", 503},
	}
	for _, tc := range cases {
		runner := &fakeRunner{unready: tc.unready}
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
				p, err := workers.NewPool(workers.Config{Queue: overload.Config{
					Policy: overload.Adaptive, Workers: 2, Capacity: 64,
					Target: 5 * time.Millisecond, Interval: 100 * time.Millisecond, MaxRetryAfter: 30 * time.Second,
				}}, m)
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
