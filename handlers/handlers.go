// Package handlers answers offload's HTTP endpoints:
//
//	GET /data     the CPU work, run by a workers.Runner; JSON body
//	GET /healthz  liveness: 200 whenever the process can answer; never
//	              touches the worker pool
//	GET /readyz   readiness: 503 while the server is draining (or, under the
//	              static overload policy, while the work queue is full)
//	GET /metrics  Prometheus text: offload, Go runtime and process metrics
//
// /data reads the client's urgency from the Priority header (RFC 9218) and
// its deadline from X-Envoy-Expected-Rq-Timeout-Ms or X-Request-Timeout,
// and hands both to the runner with the work.
//
// Every endpoint also answers HEAD. Bad input gets a 4xx with a one-line
// plain-text reason.
package handlers

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"offload/metrics"
	"offload/overload"
	"offload/work"
	"offload/workers"
)

// Config is what the handlers need from the server.
type Config struct {
	// Runner does /data's work: a worker pool or inline.
	Runner workers.Runner
	// Calibration turns durations of work into iteration counts.
	Calibration work.Calibration
	// DefaultWork is the CPU time of a /data request without ?work=.
	DefaultWork time.Duration
	// MaxWork is the largest ?work= a client may ask for.
	MaxWork time.Duration
	// QueueSize appears in the busy message, so clients see the limit.
	QueueSize int
	// Draining reports whether the server is shutting down; nil means
	// never.
	Draining func() bool
	// Metrics records every answered request.
	Metrics *metrics.Metrics
}

// Handler routes requests to the endpoints.
type Handler struct {
	cfg          Config
	defaultIters int
	tasks        sync.Pool // *dataTask
	refusals     [overload.Shutdown + 1]string
}

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	h := &Handler{
		cfg:          cfg,
		defaultIters: cfg.Calibration.Iterations(cfg.DefaultWork),
		refusals: [...]string{
			overload.QueueFull:     fmt.Sprintf("server busy: the work queue is full (%d jobs); retry later\n", cfg.QueueSize),
			overload.PredictedWait: "server overloaded: this job would wait longer for a worker than the server admits under overload; retry later\n",
			overload.Priority:      "server overloaded: work of lower urgency (a higher Priority u) is refused first; retry later\n",
			overload.DroppedStale:  "server overloaded: the job waited in the queue longer than the server allows (-queue-timeout, or the bound under overload) and was dropped; retry later\n",
			overload.Deadline:      "server busy: the job cannot finish within the request's deadline (X-Request-Timeout or X-Envoy-Expected-Rq-Timeout-Ms); retry later or allow more time\n",
			overload.Shutdown:      "server is shutting down; retry on another instance\n",
		},
	}
	if h.cfg.Draining == nil {
		h.cfg.Draining = func() bool { return false }
	}
	h.tasks.New = func() any { return &dataTask{body: make([]byte, 0, 128)} }
	return h
}

// Content types of the responses.
const (
	contentJSON       = "application/json"
	contentText       = "text/plain; charset=utf-8"
	contentPrometheus = "text/plain; version=0.0.4; charset=utf-8"
)

// Serve is the fasthttp.RequestHandler of the server.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	path := "other"
	switch string(ctx.Path()) {
	case "/data":
		path = "/data"
		if h.allowGet(ctx) {
			h.data(ctx, start)
		}
	case "/healthz":
		path = "/healthz"
		if h.allowGet(ctx) {
			text(ctx, fasthttp.StatusOK, "ok\n")
		}
	case "/readyz":
		path = "/readyz"
		if h.allowGet(ctx) {
			h.readyz(ctx)
		}
	case "/metrics":
		path = "/metrics"
		if h.allowGet(ctx) {
			ctx.SetContentType(contentPrometheus)
			h.cfg.Metrics.WritePrometheus(ctx)
		}
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentType(contentText)
		ctx.SetBodyString("not found: ")
		ctx.Response.AppendBody(ctx.Path())
		ctx.Response.AppendBodyString("; endpoints are /data, /healthz, /readyz and /metrics\n")
	}
	h.cfg.Metrics.ObserveRequest(path, ctx.Response.StatusCode(), time.Since(start))
}

// allowGet answers 405 to anything but GET and HEAD.
func (h *Handler) allowGet(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() {
		return true
	}
	ctx.Response.Header.Set(fasthttp.HeaderAllow, "GET, HEAD")
	ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
	ctx.SetContentType(contentText)
	ctx.SetBodyString("method not allowed: ")
	ctx.Response.AppendBody(ctx.Method())
	ctx.Response.AppendBodyString(" (use GET or HEAD)\n")
	return false
}

func text(ctx *fasthttp.RequestCtx, code int, body string) {
	ctx.SetStatusCode(code)
	ctx.SetContentType(contentText)
	ctx.SetBodyString(body)
}

func (h *Handler) readyz(ctx *fasthttp.RequestCtx) {
	switch {
	case h.cfg.Draining():
		text(ctx, fasthttp.StatusServiceUnavailable, "not ready: shutting down\n")
	case h.cfg.Runner.Unready() != "":
		text(ctx, fasthttp.StatusServiceUnavailable, "not ready: "+h.cfg.Runner.Unready()+"\n")
	default:
		text(ctx, fasthttp.StatusOK, "ready\n")
	}
}

// dataTask is one /data job. Tasks are recycled with their buffers, so a
// request allocates nothing for the work itself.
type dataTask struct {
	iterations int
	cost       time.Duration
	scratch    work.Scratch
	body       []byte
}

// Cost is the calibrated CPU time of the job: the pool's predictions start
// from it, and it says whether the job is long enough to run at lowered
// priority.
func (t *dataTask) Cost() time.Duration { return t.cost }

// Run does the work. It runs on a worker goroutine (or the connection's own
// in inline mode).
func (t *dataTask) Run() {
	t.body = work.Compute(t.body[:0], t.iterations, &t.scratch)
}

// data runs the work. start is when the handler began, from which the
// client's deadline counts.
func (h *Handler) data(ctx *fasthttp.RequestCtx, start time.Time) {
	iterations := h.defaultIters
	if raw := ctx.QueryArgs().Peek("work"); raw != nil {
		d, err := ParseWork(raw, h.cfg.MaxWork)
		if err != nil {
			text(ctx, fasthttp.StatusBadRequest, err.Error()+"\n")
			return
		}
		iterations = h.cfg.Calibration.Iterations(d)
	}
	req := workers.Request{Urgency: urgency(&ctx.Request.Header)}
	b, err := budget(&ctx.Request.Header)
	if err != nil {
		text(ctx, fasthttp.StatusBadRequest, err.Error()+"\n")
		return
	}
	if b > 0 {
		req.Deadline = start.Add(b)
	}

	t := h.tasks.Get().(*dataTask)
	defer h.tasks.Put(t)
	t.iterations = iterations
	t.cost = h.cfg.Calibration.Duration(iterations)
	res := h.cfg.Runner.Do(t, req)
	switch {
	case res.Outcome != overload.Admitted:
		// Refused, not failed: 503 with when to come back.
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(res.RetryAfter))
		text(ctx, fasthttp.StatusServiceUnavailable, h.refusals[res.Outcome])
	case res.Err != nil:
		text(ctx, fasthttp.StatusInternalServerError, "internal error: the work failed\n")
	default:
		ctx.SetContentType(contentJSON)
		ctx.SetBody(t.body)
		if !req.Deadline.IsZero() && time.Now().After(req.Deadline) {
			h.cfg.Metrics.DeadlineMissed.Inc()
		}
	}
}

// ParseWork parses the ?work= query value: a Go duration such as "2ms" or
// "500us", from 0 up to max.
func ParseWork(raw []byte, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(string(raw))
	if err != nil {
		return 0, fmt.Errorf("bad work %s: want a duration such as 2ms or 500us", strconv.Quote(string(raw)))
	}
	if d < 0 {
		return 0, fmt.Errorf("bad work %s: must not be negative", raw)
	}
	if d > max {
		return 0, fmt.Errorf("bad work %s: above the server's -max-work of %v", raw, max)
	}
	return d, nil
}

// ErrorHandler answers requests fasthttp could not parse, with the limit
// that was hit when there is one. maxHeader and maxBody are the server's
// limits in bytes, for the message.
func ErrorHandler(m *metrics.Metrics, maxHeader, maxBody int) func(*fasthttp.RequestCtx, error) {
	return func(ctx *fasthttp.RequestCtx, err error) {
		var small *fasthttp.ErrSmallBuffer
		var timeout interface{ Timeout() bool }
		switch {
		case errors.As(err, &small):
			ctx.Error(fmt.Sprintf("request header too large: the limit is %d bytes (-max-header-bytes)", maxHeader),
				fasthttp.StatusRequestHeaderFieldsTooLarge)
		case errors.Is(err, fasthttp.ErrBodyTooLarge):
			ctx.Error(fmt.Sprintf("request body too large: the limit is %d bytes (-max-body)", maxBody),
				fasthttp.StatusRequestEntityTooLarge)
		case errors.As(err, &timeout) && timeout.Timeout():
			ctx.Error("request timeout: the request was not received within -read-timeout", fasthttp.StatusRequestTimeout)
		default:
			ctx.Error("malformed HTTP request", fasthttp.StatusBadRequest)
		}
		m.CountRequest("other", ctx.Response.StatusCode())
	}
}
