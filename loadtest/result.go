package loadtest

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Mode is the load model of a run.
type Mode string

// The two load models.
const (
	Closed Mode = "closed" // Config.Connections workers, each waiting for its last answer
	Open   Mode = "open"   // requests on a fixed schedule at Config.Rates
)

// Result is what a run measured. Its JSON form is the -json output; times
// in it are seconds or, in Latency, milliseconds.
type Result struct {
	Mode        Mode      `json:"mode"`
	URL         string    `json:"url"`
	Connections int       `json:"connections,omitempty"`  // closed loop
	Rates       []float64 `json:"rates,omitempty"`        // open loop, req/s per step
	MaxInflight int       `json:"max_inflight,omitempty"` // open loop
	Close       bool      `json:"close"`                  // a new connection per request

	DurationSeconds float64 `json:"duration_s"`
	WarmupSeconds   float64 `json:"warmup_s"`
	TimeoutSeconds  float64 `json:"timeout_s"`

	// ElapsedSeconds is the measured time, from the end of the warmup until
	// the last request finished or the run was cancelled.
	ElapsedSeconds float64 `json:"elapsed_s"`
	// Interrupted is set when the context ended the run early.
	Interrupted bool `json:"interrupted"`

	// Requests counts the requests that finished after the warmup, answered
	// or failed; Answered those that got a response, whatever its status.
	Requests int64 `json:"requests"`
	Answered int64 `json:"answered"`

	Throughput float64 `json:"throughput_rps"` // Answered per measured second
	Goodput    float64 `json:"goodput_rps"`    // 2xx responses per measured second

	Latency Latency `json:"latency_ms"`
	// LatencyByStatus is Latency for each status code on its own, so that
	// fast refusals (503) and slow successes do not blur each other.
	LatencyByStatus map[int]Latency `json:"latency_ms_by_status"`
	Outcomes        Outcomes        `json:"outcomes"`

	// ConnectionsOpened counts the connections made, warmup included.
	ConnectionsOpened int64 `json:"connections_opened"`
	// Histogram holds the latency of every answered request in µs.
	Histogram *hdrhistogram.Histogram `json:"-"`
	// Records holds every request, warmup included, in the order they were
	// due, if Config.Record is set.
	Records []Record `json:"-"`
}

// Record is one request of a run.
type Record struct {
	At      time.Duration // since the start of the run, when it was due (open loop) or sent (closed loop)
	Latency time.Duration // from At until the answer or the failure
	Status  int           // the response's status code, 0 if there was none
}

// Latency summarises answered requests' latencies, in milliseconds. In an
// open loop a latency counts from the request's scheduled send time.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// latencyOf summarises a histogram in microseconds.
func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1e3 }
	return Latency{
		P50:  ms(h.ValueAtQuantile(50)),
		P90:  ms(h.ValueAtQuantile(90)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
		Mean: h.Mean() / 1e3,
	}
}

// Outcomes breaks down how requests ended: Status counts responses by
// status code; Timeouts requests with no complete response in time on an
// established connection; Connect those whose connection could not be
// made; Resets those whose connection was reset or closed before a
// complete response; Other any other failure, with a few messages in
// OtherSamples. Missed counts the open loop's sends never made because
// MaxInflight requests were outstanding.
type Outcomes struct {
	Status       map[int]int64 `json:"status"`
	Timeouts     int64         `json:"timeouts"`
	Connect      int64         `json:"connect_errors"`
	Resets       int64         `json:"resets"`
	Other        int64         `json:"other_errors"`
	OtherSamples []string      `json:"other_samples,omitempty"`
	Missed       int64         `json:"missed"`
}

// Errors returns the number of requests that got no response.
func (o *Outcomes) Errors() int64 {
	return o.Timeouts + o.Connect + o.Resets + o.Other
}

// WriteText writes a human-readable summary of r to w.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	keep := "keep-alive"
	if r.Close {
		keep = "a new connection per request"
	}
	if r.Mode == Open {
		rates := make([]string, len(r.Rates))
		for i, x := range r.Rates {
			rates[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		steps := ""
		if len(rates) > 1 {
			steps = " in equal steps"
		}
		p("Open loop at %s req/s%s, at most %d in flight, %s\n", strings.Join(rates, ", "), steps, r.MaxInflight, keep)
	} else {
		p("Closed loop with %d connections, %s\n", r.Connections, keep)
	}
	p("Target %s for %v after %v warmup, timeout %v\n",
		r.URL, seconds(r.DurationSeconds), seconds(r.WarmupSeconds), seconds(r.TimeoutSeconds))
	if r.Interrupted {
		p("Interrupted: results cover the first %v only\n", seconds(r.ElapsedSeconds))
	}
	p("\nRequests    %d in %v: %d answered, %d failed\n",
		r.Requests, seconds(r.ElapsedSeconds), r.Answered, r.Outcomes.Errors())
	p("Throughput  %.1f req/s answered, %.1f req/s 2xx\n", r.Throughput, r.Goodput)
	p("Latency ms  %s\n", r.Latency.text())
	if len(r.LatencyByStatus) > 1 {
		for _, code := range slices.Sorted(maps.Keys(r.LatencyByStatus)) {
			p("  of %d     %s\n", code, r.LatencyByStatus[code].text())
		}
	}
	o := &r.Outcomes
	var status []string
	for _, code := range slices.Sorted(maps.Keys(o.Status)) {
		status = append(status, fmt.Sprintf("%d: %d", code, o.Status[code]))
	}
	p("Status      %s\n", cmp.Or(strings.Join(status, "  "), "none"))
	p("Errors      timeouts %d  connect %d  resets %d  other %d\n", o.Timeouts, o.Connect, o.Resets, o.Other)
	for _, s := range o.OtherSamples {
		p("            e.g. %s\n", s)
	}
	if r.Mode == Open {
		p("Missed      %d sends not made: due while %d requests were in flight\n", o.Missed, r.MaxInflight)
	}
	p("Connections %d opened\n", r.ConnectionsOpened)

	_, err := io.WriteString(w, b.String())
	return err
}

// text formats l for the summary.
func (l Latency) text() string {
	return fmt.Sprintf("p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
}

// seconds turns a number of seconds into a duration worth printing.
func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}
