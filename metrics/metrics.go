// Package metrics holds every metric offload exposes, registered in one
// github.com/VictoriaMetrics/metrics Set, and writes them in the Prometheus
// text format together with Go runtime and process metrics.
//
// All metric names live in this file, so a dashboard or a scraper has one
// place to look. Each Metrics value owns its own Set: two servers in one
// process (as in tests) never share counters.
package metrics

import (
	"io"
	"strconv"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Metric names that other packages (the load generator, tests) read back
// from /metrics.
const (
	ConnectionsAccepted = "offload_connections_accepted_total"
	ConnectionsClosed   = "offload_connections_closed_total"
	ConnectionsActive   = "offload_connections_active"
	JobsSubmitted       = "offload_jobs_submitted_total"
	JobsRejected        = "offload_jobs_rejected_total"
	JobsDropped         = "offload_jobs_dropped_total"
	JobsCompleted       = "offload_jobs_completed_total"
	JobsQueued          = "offload_jobs_queued"
	JobsRunning         = "offload_jobs_running"
)

// Paths with their own request series. Anything else is counted as "other"
// so that clients cannot grow the number of series without bound.
var knownPaths = [...]string{"/data", "/healthz", "/readyz", "/metrics", "other"}

// Status codes with a pre-created counter per path; the request path looks
// them up without formatting a name. Other codes are created on first use.
var knownCodes = [...]int{200, 400, 404, 405, 408, 413, 431, 500, 503}

// latencyBuckets are upper bounds in seconds. They extend the original
// experiment's buckets (1 ms to 5 s) down to 50 µs, where /healthz lives.
var latencyBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.002, 0.005, 0.007, 0.01, 0.02, 0.03, 0.04, 0.05,
	0.1, 0.2, 0.3, 0.5, 1, 5,
}

// Metrics is the server's metric set. Fields are safe for concurrent use.
type Metrics struct {
	set *vm.Set

	// Connections, as seen by the acceptors.
	ConnectionsAccepted *vm.Counter
	ConnectionsClosed   *vm.Counter
	ConnectionsActive   *vm.Gauge

	// AcceptErrorsConnection counts per-connection accept errors (the peer
	// went away before accept); AcceptErrorsResource counts resource
	// shortages (EMFILE, ENFILE, ENOBUFS, ENOMEM) that paused an acceptor.
	AcceptErrorsConnection *vm.Counter
	AcceptErrorsResource   *vm.Counter
	AcceptErrorsOther      *vm.Counter
	// AcceptLimitWaits counts how often an acceptor found -max-conns
	// reached and stopped accepting; AcceptLimitWait is how long it waited.
	AcceptLimitWaits *vm.Counter
	AcceptLimitWait  *vm.PrometheusHistogram

	// Jobs: CPU work handed to the pool (or run inline).
	JobsSubmitted *vm.Counter
	JobsRejected  *vm.Counter
	JobsDropped   *vm.Counter
	JobsCompleted *vm.Counter
	JobsQueued    *vm.Gauge
	JobsRunning   *vm.Gauge
	QueueWait     *vm.PrometheusHistogram
	WorkTime      *vm.PrometheusHistogram

	// WorkNanosPerIteration and WorkIterations describe the start-up
	// calibration that turns -work durations into iteration counts.
	WorkNanosPerIteration *vm.Gauge
	WorkIterations        *vm.Gauge

	requests [len(knownPaths)]pathRequests
	answered atomic.Uint64
}

// pathRequests is the request accounting of one path.
type pathRequests struct {
	path     string
	duration *vm.PrometheusHistogram
	byCode   [len(knownCodes)]*vm.Counter
}

// New returns a Metrics with every series registered in a fresh Set.
func New() *Metrics {
	s := vm.NewSet()
	m := &Metrics{
		set:                    s,
		ConnectionsAccepted:    s.NewCounter(ConnectionsAccepted),
		ConnectionsClosed:      s.NewCounter(ConnectionsClosed),
		ConnectionsActive:      s.NewGauge(ConnectionsActive, nil),
		AcceptErrorsConnection: s.NewCounter(`offload_accept_errors_total{kind="connection"}`),
		AcceptErrorsResource:   s.NewCounter(`offload_accept_errors_total{kind="resource"}`),
		AcceptErrorsOther:      s.NewCounter(`offload_accept_errors_total{kind="other"}`),
		AcceptLimitWaits:       s.NewCounter("offload_accept_limit_waits_total"),
		AcceptLimitWait:        s.NewPrometheusHistogramExt("offload_accept_limit_wait_seconds", latencyBuckets),
		JobsSubmitted:          s.NewCounter(JobsSubmitted),
		JobsRejected:           s.NewCounter(JobsRejected),
		JobsDropped:            s.NewCounter(JobsDropped),
		JobsCompleted:          s.NewCounter(JobsCompleted),
		JobsQueued:             s.NewGauge(JobsQueued, nil),
		JobsRunning:            s.NewGauge(JobsRunning, nil),
		QueueWait:              s.NewPrometheusHistogramExt("offload_job_queue_wait_seconds", latencyBuckets),
		WorkTime:               s.NewPrometheusHistogramExt("offload_job_work_seconds", latencyBuckets),
		WorkNanosPerIteration:  s.NewGauge("offload_work_calibration_ns_per_iteration", nil),
		WorkIterations:         s.NewGauge("offload_work_default_iterations", nil),
	}
	for i, p := range knownPaths {
		r := &m.requests[i]
		r.path = p
		r.duration = s.NewPrometheusHistogramExt(`offload_request_duration_seconds{path="`+p+`"}`, latencyBuckets)
		for j, code := range knownCodes {
			r.byCode[j] = s.NewCounter(requestsName(p, code))
		}
	}
	return m
}

func requestsName(path string, code int) string {
	return `offload_http_requests_total{path="` + path + `",code="` + strconv.Itoa(code) + `"}`
}

// ObserveRequest records one answered HTTP request: its duration under its
// path and a count under its path and status code.
func (m *Metrics) ObserveRequest(path string, code int, d time.Duration) {
	m.pathRequests(path).duration.Update(d.Seconds())
	m.CountRequest(path, code)
}

// CountRequest counts one answered request under its path and status code,
// without a duration: for requests answered before they could be timed,
// such as malformed ones.
func (m *Metrics) CountRequest(path string, code int) {
	m.answered.Add(1)
	r := m.pathRequests(path)
	for j, c := range knownCodes {
		if c == code {
			r.byCode[j].Inc()
			return
		}
	}
	m.set.GetOrCreateCounter(requestsName(r.path, code)).Inc()
}

func (m *Metrics) pathRequests(path string) *pathRequests {
	for i := range len(knownPaths) - 1 {
		if knownPaths[i] == path {
			return &m.requests[i]
		}
	}
	return &m.requests[len(knownPaths)-1]
}

// Answered is the number of requests answered so far, all paths and codes.
func (m *Metrics) Answered() uint64 { return m.answered.Load() }

// WritePrometheus writes the offload metrics followed by Go runtime and
// process metrics (CPU seconds, RSS, open and maximum fds) in the Prometheus
// text format.
func (m *Metrics) WritePrometheus(w io.Writer) {
	m.set.WritePrometheus(w)
	vm.WriteProcessMetrics(w)
	vm.WriteFDMetrics(w)
}
