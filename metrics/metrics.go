// Package metrics holds every metric offload exposes, registered in one
// github.com/VictoriaMetrics/metrics Set, and writes them in the Prometheus
// text format, each family with its # HELP and # TYPE, together with Go
// runtime and process metrics.
//
// All metric names and their help texts live in this file, so a dashboard
// or a scraper has one place to look. Each Metrics value owns its own Set:
// two servers in one process (as in tests) never share counters.
package metrics

import (
	"bytes"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"offload/overload"
)

// Metric names that other packages (the load generator, tests) read back
// from /metrics.
const (
	ConnectionsAccepted = "offload_connections_accepted_total"
	ConnectionsClosed   = "offload_connections_closed_total"
	ConnectionsActive   = "offload_connections_active"
	JobsSubmitted       = "offload_jobs_submitted_total"
	JobsAdmitted        = "offload_jobs_admitted_total"
	JobsRejected        = "offload_jobs_rejected_total"
	JobsDropped         = "offload_jobs_dropped_total"
	JobsCompleted       = "offload_jobs_completed_total"
	JobsCPU             = "offload_jobs_cpu_seconds_total"
	JobsQueued          = "offload_jobs_queued"
	JobsRunning         = "offload_jobs_running"
	JobsRefused         = "offload_jobs_refused_total"
	JobsByUrgency       = "offload_jobs_by_urgency_total"
	RetryAfter          = "offload_retry_after_seconds"
	QueueWait           = "offload_jobs_queue_wait_seconds"
	WorkTime            = "offload_jobs_work_seconds"
	OverloadActive      = "offload_overload_active"
	OverloadEpisodes    = "offload_overload_episodes_total"
	OverloadSeconds     = "offload_overload_seconds_total"
	OverloadBound       = "offload_overload_admission_bound_seconds"
	OverloadTarget      = "offload_overload_queue_target_seconds"
	JobWallEstimate     = "offload_jobs_wall_estimate_seconds"
	JobSlowdown         = "offload_jobs_slowdown_ratio"
	QueueLIFO           = "offload_queue_lifo"
	DeadlineMissed      = "offload_deadline_missed_total"
	RequestDuration     = "offload_request_duration_seconds"
	HTTPRequests        = "offload_http_requests_total"
	AcceptErrors        = "offload_accept_errors_total"
	AcceptLimitWaits    = "offload_accept_limit_waits_total"
	AcceptLimitWait     = "offload_accept_limit_wait_seconds"
	WorkIteration       = "offload_work_iteration_seconds"
	WorkIterations      = "offload_work_default_iterations"
	ListenQueueLength   = "offload_listen_queue_length"
	ListenQueueCapacity = "offload_listen_queue_capacity"
	BuildInfo           = "offload_build_info"
	ConfigInfo          = "offload_config_info"
	ConfigWorkers       = "offload_config_workers"
	ConfigQueue         = "offload_config_queue_capacity"
	ConfigMaxConns      = "offload_config_max_connections"
)

// help is the # HELP text of every offload family: what it counts, in a
// sentence.
var help = map[string]string{
	ConnectionsAccepted: "Connections the acceptors took off the listen queue.",
	ConnectionsClosed:   "Connections closed, each counted once.",
	ConnectionsActive:   "Connections open now: accepted minus closed.",
	AcceptErrors:        "Errors of accept(2) by kind: connection (skipped), resource (EMFILE and the like: the acceptor paused), other (the server stopped).",
	AcceptLimitWaits:    "Times an acceptor found -max-conns reached and waited for a connection to close.",
	AcceptLimitWait:     "How long an acceptor waited at -max-conns.",
	JobsSubmitted:       "/data jobs handed to the worker pool, or run inline.",
	JobsAdmitted:        "Jobs admitted: started at once or queued.",
	JobsRejected:        "Jobs refused at once, for any reason.",
	JobsDropped:         "Jobs admitted and then dropped before they ran.",
	JobsCompleted:       "Jobs that ran to the end.",
	JobsCPU:             "CPU time of the threads that ran jobs, while they ran them (each thread's own clock; jobs cheaper than 50us are not timed); over process_cpu_seconds_total it is the share of the server's CPU that went into the work.",
	JobsQueued:          "Jobs waiting for a worker now.",
	JobsRunning:         "Jobs running now.",
	JobsRefused:         "Jobs refused or dropped, by reason.",
	JobsByUrgency:       "Jobs by RFC 9218 urgency and outcome (completed or refused).",
	RetryAfter:          "Retry-After values handed out with refusals.",
	QueueWait:           "Time from a job's submission until a worker took it.",
	WorkTime:            "Time a job ran on its worker.",
	OverloadActive:      "1 while the overload controller considers the queue overloaded.",
	OverloadEpisodes:    "Overloads begun.",
	OverloadSeconds:     "Time spent overloaded, the current episode included.",
	OverloadBound:       "Predicted wait above which a job of the default urgency is refused while overloaded.",
	OverloadTarget:      "Effective queueing-delay target of standing-queue detection.",
	JobWallEstimate:     "Moving average of a job's wall time.",
	JobSlowdown:         "Moving average of a job's wall time over its calibrated CPU cost.",
	QueueLIFO:           "1 while the queue serves newest first.",
	DeadlineMissed:      "Jobs answered 200 after their client's deadline.",
	RequestDuration:     "Handler time of HTTP requests, by path.",
	HTTPRequests:        "Answered HTTP requests, by path and status code.",
	WorkIteration:       "Calibrated single-core time of one iteration of the work.",
	WorkIterations:      "Iterations of one /data job of -work.",
	ListenQueueLength:   "Connections waiting in the kernel's accept queues of the server's listeners now.",
	ListenQueueCapacity: "Capacity of those accept queues: the effective listen backlog, summed over the listeners.",
	BuildInfo:           "Always 1; the labels say which build is running.",
	ConfigInfo:          "Always 1; the labels say how the server was configured.",
	ConfigWorkers:       "Worker goroutines of the pool (-pool).",
	ConfigQueue:         "Most jobs that may wait for a worker (-queue).",
	ConfigMaxConns:      "Most simultaneous connections (-max-conns).",
}

// RefusedSeries is the series of JobsRefused for reason r, e.g.
// offload_jobs_refused_total{reason="predicted_wait"}.
func RefusedSeries(r overload.Reason) string {
	return JobsRefused + `{reason="` + r.String() + `"}`
}

// UrgencySeries is the series of JobsByUrgency for urgency u and outcome
// "completed" or "refused".
func UrgencySeries(u int, outcome string) string {
	return JobsByUrgency + `{urgency="` + strconv.Itoa(u) + `",outcome="` + outcome + `"}`
}

// Paths with their own request series. Anything else is counted as "other"
// so that clients cannot grow the number of series without bound.
var knownPaths = [...]string{"/data", "/healthz", "/readyz", "/metrics", "other"}

// Status codes with a pre-created counter per path; the request path looks
// them up without formatting a name. Other codes are created on first use.
var knownCodes = [...]int{200, 400, 404, 405, 408, 413, 431, 500, 503}

// retryAfterBuckets are upper bounds in seconds of the Retry-After values
// handed out, which are whole seconds from 1 to -max-retry-after.
var retryAfterBuckets = []float64{1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 60, 120}

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
	JobsAdmitted  *vm.Counter
	JobsRejected  *vm.Counter
	JobsDropped   *vm.Counter
	JobsCompleted *vm.Counter
	// JobsCPU sums the thread CPU time of the jobs that ran.
	JobsCPU     *vm.FloatCounter
	JobsQueued  *vm.Gauge
	JobsRunning *vm.Gauge
	QueueWait   *vm.PrometheusHistogram
	WorkTime    *vm.PrometheusHistogram

	// Refusals: by reason, by urgency, and the Retry-After they were given.
	refused    [len(refusalReasons)]*vm.Counter
	byUrgency  [overload.Levels][2]*vm.Counter // [urgency][completed, refused]
	RetryAfter *vm.PrometheusHistogram
	// DeadlineMissed counts work that ran and was answered 200 after its
	// client's deadline: what admission by deadline failed to prevent.
	DeadlineMissed *vm.Counter

	// WorkIteration (seconds) and WorkIterations describe the start-up
	// calibration that turns -work durations into iteration counts.
	WorkIteration  *vm.Gauge
	WorkIterations *vm.Gauge

	requests [len(knownPaths)]pathRequests
	answered atomic.Uint64
	jobs     atomic.Pointer[JobSource]
	buffers  sync.Pool // *bytes.Buffer for WritePrometheus
}

// refusalReasons are the reasons a job can be refused, in the order of
// Metrics.refused.
var refusalReasons = [...]overload.Reason{
	overload.PredictedWait, overload.QueueFull, overload.DroppedStale,
	overload.Deadline, overload.Priority, overload.Shutdown,
}

// JobSource reports the jobs waiting and running now: the worker pool or
// the inline runner. Gauges read it at scrape time, so they cannot drift
// from the runner's own counts.
type JobSource interface {
	Queued() int
	Running() int
}

// pathRequests is the request accounting of one path.
type pathRequests struct {
	path     string
	duration *vm.PrometheusHistogram
	byCode   [len(knownCodes)]*vm.Counter
}

// New returns a Metrics with every series registered in a fresh Set.
func New() *Metrics {
	// VictoriaMetrics/metrics keeps this switch for the whole process; every
	// Set of this program writes # HELP and # TYPE lines.
	vm.ExposeMetadata(true)
	s := vm.NewSet()
	m := &Metrics{
		set:                    s,
		ConnectionsAccepted:    s.NewCounter(ConnectionsAccepted),
		ConnectionsClosed:      s.NewCounter(ConnectionsClosed),
		ConnectionsActive:      s.NewGauge(ConnectionsActive, nil),
		AcceptErrorsConnection: s.NewCounter(AcceptErrors + `{kind="connection"}`),
		AcceptErrorsResource:   s.NewCounter(AcceptErrors + `{kind="resource"}`),
		AcceptErrorsOther:      s.NewCounter(AcceptErrors + `{kind="other"}`),
		AcceptLimitWaits:       s.NewCounter(AcceptLimitWaits),
		AcceptLimitWait:        s.NewPrometheusHistogramExt(AcceptLimitWait, latencyBuckets),
		JobsSubmitted:          s.NewCounter(JobsSubmitted),
		JobsAdmitted:           s.NewCounter(JobsAdmitted),
		JobsRejected:           s.NewCounter(JobsRejected),
		JobsDropped:            s.NewCounter(JobsDropped),
		JobsCompleted:          s.NewCounter(JobsCompleted),
		JobsCPU:                s.NewFloatCounter(JobsCPU),
		QueueWait:              s.NewPrometheusHistogramExt(QueueWait, latencyBuckets),
		WorkTime:               s.NewPrometheusHistogramExt(WorkTime, latencyBuckets),
		RetryAfter:             s.NewPrometheusHistogramExt(RetryAfter, retryAfterBuckets),
		DeadlineMissed:         s.NewCounter(DeadlineMissed),
		WorkIteration:          s.NewGauge(WorkIteration, nil),
		WorkIterations:         s.NewGauge(WorkIterations, nil),
	}
	m.buffers.New = func() any { return new(bytes.Buffer) }
	s.NewGauge(buildInfo(), func() float64 { return 1 })
	m.JobsQueued = s.NewGauge(JobsQueued, func() float64 { return m.jobCount(JobSource.Queued) })
	m.JobsRunning = s.NewGauge(JobsRunning, func() float64 { return m.jobCount(JobSource.Running) })
	for i, r := range refusalReasons {
		m.refused[i] = s.NewCounter(RefusedSeries(r))
	}
	for u := range overload.Levels {
		m.byUrgency[u] = [2]*vm.Counter{s.NewCounter(UrgencySeries(u, "completed")), s.NewCounter(UrgencySeries(u, "refused"))}
	}
	for i, p := range knownPaths {
		r := &m.requests[i]
		r.path = p
		r.duration = s.NewPrometheusHistogramExt(RequestDuration+`{path="`+p+`"}`, latencyBuckets)
		for j, code := range knownCodes {
			r.byCode[j] = s.NewCounter(requestsName(p, code))
		}
	}
	return m
}

func requestsName(path string, code int) string {
	return HTTPRequests + `{path="` + path + `",code="` + strconv.Itoa(code) + `"}`
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

// ObserveJobs makes the queued and running gauges read src.
func (m *Metrics) ObserveJobs(src JobSource) { m.jobs.Store(&src) }

func (m *Metrics) jobCount(f func(JobSource) int) float64 {
	if src := m.jobs.Load(); src != nil {
		return float64(f(*src))
	}
	return 0
}

// CountCompleted counts a job of urgency u that ran for d and took cpu of
// its thread's CPU time.
func (m *Metrics) CountCompleted(u int, d, cpu time.Duration) {
	m.JobsCompleted.Inc()
	m.JobsCPU.Add(cpu.Seconds())
	m.WorkTime.Update(d.Seconds())
	m.byUrgency[urgencyIndex(u)][0].Inc()
}

// CountRefused counts a job of urgency u that did not run, for reason r:
// refused at submission, or dropped from the queue. retryAfter is the
// Retry-After, in seconds, its client was given.
func (m *Metrics) CountRefused(u int, r overload.Reason, dropped bool, retryAfter int) {
	if dropped {
		m.JobsDropped.Inc()
	} else {
		m.JobsRejected.Inc()
	}
	for i, rr := range refusalReasons {
		if rr == r {
			m.refused[i].Inc()
		}
	}
	m.byUrgency[urgencyIndex(u)][1].Inc()
	m.RetryAfter.Update(float64(retryAfter))
}

func urgencyIndex(u int) int { return min(max(u, 0), overload.Levels-1) }

// ObserveOverload exports the controller's state, read at scrape time:
// whether the queue is overloaded, how often and how long it was, the
// admission bound, the target, the cost estimates and the queue order.
func (m *Metrics) ObserveOverload(stats func() overload.Stats) {
	m.set.RegisterMetricsWriter(func(w io.Writer) {
		st := stats()
		vm.WriteGaugeUint64(w, OverloadActive, b2u(st.Overloaded))
		vm.WriteCounterUint64(w, OverloadEpisodes, st.Episodes)
		vm.WriteCounterFloat64(w, OverloadSeconds, st.OverloadedFor.Seconds())
		vm.WriteGaugeFloat64(w, OverloadBound, st.Bound.Seconds())
		vm.WriteGaugeFloat64(w, OverloadTarget, st.Target.Seconds())
		vm.WriteGaugeFloat64(w, JobWallEstimate, st.JobWall.Seconds())
		vm.WriteGaugeFloat64(w, JobSlowdown, st.Slowdown)
		vm.WriteGaugeUint64(w, QueueLIFO, b2u(st.LIFO))
	})
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Answered is the number of requests answered so far, all paths and codes.
func (m *Metrics) Answered() uint64 { return m.answered.Load() }
