package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"offload/metrics"
	"offload/workers"
)

func FuzzParseWork(f *testing.F) {
	for _, seed := range []string{"2ms", "0", "500us", "1.5ms", "-1ms", "1h", "abc", "", "1e3ms", "9223372036854775807ns", "-0", "1s1ns", "\x00"} {
		f.Add(seed)
	}
	const limit = time.Second
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := ParseWork([]byte(raw), limit)
		if err != nil {
			if d != 0 || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("ParseWork(%q) = %v, %q: an error must come with 0 and fit on one line", raw, d, err)
			}
			return
		}
		if d < 0 || d > limit {
			t.Fatalf("ParseWork(%q) = %v, outside [0, %v]", raw, d, limit)
		}
	})
}

// FuzzServe sends arbitrary methods and request URIs through the router:
// whatever arrives, the answer is a 2xx or 4xx with a body, never a panic
// or a 5xx.
func FuzzServe(f *testing.F) {
	for _, seed := range [][2]string{
		{"GET", "/data"}, {"GET", "/data?work=1us"}, {"GET", "/data?work=-1ns"}, {"HEAD", "/healthz"},
		{"POST", "/readyz"}, {"GET", "/metrics"}, {"GET", "/%00"}, {"GET", "/data?work=%zz&work=1ms"},
		{"GET", "//data"}, {"GET", "http://host/data?work=1us"}, {"BREW", "*"},
	} {
		f.Add(seed[0], seed[1])
	}
	h := New(Config{
		Runner:      workers.NewInline(metrics.New()),
		Calibration: oneNanoPerIteration,
		DefaultWork: time.Microsecond,
		MaxWork:     10 * time.Microsecond,
		Metrics:     metrics.New(),
	})
	f.Fuzz(func(t *testing.T, method, uri string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(uri)
		h.Serve(&ctx)
		code := ctx.Response.StatusCode()
		if code >= 500 || code < 200 || len(ctx.Response.Body()) == 0 {
			t.Fatalf("%s %q: status %d body %q", method, uri, code, ctx.Response.Body())
		}
	})
}

// FuzzRequestHeaders feeds arbitrary Priority, X-Envoy-Expected-Rq-Timeout-Ms
// and X-Request-Timeout values to /data: the urgency is always 0 to 7, the
// deadline either in the future or a one-line 400, and nothing panics.
func FuzzRequestHeaders(f *testing.F) {
	for _, seed := range [][3]string{
		{"u=0", "", ""}, {"u=5, i", "250", ""}, {"u=9", "0", "1s"}, {"i, u=-1", "-3", "0s"}, {"u=1.5", "abc", "1h"},
		{"u=\"x\"", "99999999999999999999", "250"}, {"(u=1)", "1", "1ns"}, {"u=0;x=1", " 15 ", "1.5ms"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	runner := &fakeRunner{}
	h, _ := newHandler(runner, false)
	f.Fuzz(func(t *testing.T, priority, envoy, timeout string) {
		runner.req = workers.Request{Urgency: -1}
		start := time.Now()
		ctx := serveData(h, func(rh *fasthttp.RequestHeader) {
			for name, v := range map[string]string{HeaderPriority: priority, HeaderEnvoyTimeout: envoy, HeaderRequestTimeout: timeout} {
				if v != "" {
					rh.Set(name, v)
				}
			}
		})
		body := string(ctx.Response.Body())
		switch code := ctx.Response.StatusCode(); code {
		case 200:
			if u := runner.req.Urgency; u < 0 || u > 7 {
				t.Fatalf("urgency %d from Priority %q", u, priority)
			}
			if d := runner.req.Deadline; !d.IsZero() && !d.After(start) {
				t.Fatalf("deadline %v not after the request, from %q and %q", d, envoy, timeout)
			}
		case 400:
			if strings.Count(body, "\n") != 1 || !strings.HasPrefix(body, "bad ") {
				t.Fatalf("400 body %q: want one line saying what is bad", body)
			}
		default:
			t.Fatalf("status %d body %q", code, body)
		}
	})
}
