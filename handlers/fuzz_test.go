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
