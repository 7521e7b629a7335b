package experiment

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"offload/config"
	"offload/internal/await"
	"offload/internal/testbin"
	"offload/loadtest"
	"offload/loadtest/observe"
	"offload/metrics"
	"offload/overload"
)

// These tests drive the real server under overload from this process. The
// server binary is built without the race detector; every threshold is
// relative to what the same test measured: the latency W of one request
// alone, the capacity C, or the static queue side by side.

const testWork = 4 * time.Millisecond

// workIterationNs is one calibration of the work for every server of the
// tests, so that a capacity measured on one holds for another: each
// calibrating for itself, two servers started a second apart can do tens
// of percent more or less work per -work.
var workIterationNs = sync.OnceValues(func() (float64, error) {
	s, err := observe.Calibrated(context.Background(), observe.Config{Binary: serverBin, Procs: 2, Server: config.Default()})
	return s.WorkIterationNs, err
})

func startPolicy(t *testing.T, tune func(*config.Config)) *observe.Server {
	t.Helper()
	ns, err := workIterationNs()
	if err != nil {
		t.Fatal(err)
	}
	s := config.Default()
	s.Work, s.WorkIterationNs = testWork, ns
	if tune != nil {
		tune(&s)
	}
	srv, err := observe.Start(testbin.Context(t), observe.Config{Binary: serverBin, Procs: 2, Server: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// measureBaseline returns C (a closed loop of two clients per worker,
// which queues no more than the adaptive policy calls a standing queue) and
// W (one client, one request at a time: the median).
func measureBaseline(t *testing.T, srv *observe.Server) (c, w float64) {
	t.Helper()
	ctx := testbin.Context(t)
	sat, err := loadtest.Run(ctx, loadtest.Config{URL: srv.URL("/data"), Connections: 4, Warmup: 300 * time.Millisecond, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	one, err := loadtest.Run(ctx, loadtest.Config{URL: srv.URL("/data"), Connections: 1, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sat.Goodput <= 0 || one.Latency.P50 <= 0 {
		t.Fatalf("baseline: capacity %v/s, W %v ms", sat.Goodput, one.Latency.P50)
	}
	return sat.Goodput, one.Latency.P50
}

// window runs cfg against srv, after a second of it as a warmup, and
// returns the result and what changed in the server's metrics meanwhile.
func window(t *testing.T, srv *observe.Server, cfg loadtest.Config) (*loadtest.Result, map[string]float64) {
	t.Helper()
	warm := cfg
	warm.Duration, warm.Warmup = time.Second, 0
	if _, err := loadtest.Run(testbin.Context(t), warm); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, srv)
	res, err := loadtest.Run(testbin.Context(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Outcomes.Errors() + res.Outcomes.Missed; n > 0 {
		t.Fatalf("%d requests to %s got no answer: %+v", n, cfg.URL, res.Outcomes)
	}
	after := scrape(t, srv)
	delta := maps.Clone(after)
	for k, v := range before {
		delta[k] -= v
	}
	return res, delta
}

func openLoop(url string, rate float64, d time.Duration, header map[string]string) loadtest.Config {
	return loadtest.Config{URL: url, Header: header, Rates: []float64{rate}, Duration: d, MaxInflight: 5000, Timeout: 10 * time.Second}
}

// scrape returns the server's metrics.
func scrape(t *testing.T, srv *observe.Server) map[string]float64 {
	t.Helper()
	m, err := srv.Metrics(testbin.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// bucketQuantile is the upper bound, in seconds, of the histogram bucket
// that holds the q-quantile of the named histogram.
func bucketQuantile(t *testing.T, m map[string]float64, name string, q float64) float64 {
	t.Helper()
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, name+`_bucket{le="`)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil {
			t.Fatalf("bucket %s: %v", k, err)
		}
		bs = append(bs, bucket{le, v})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return int(math.Copysign(1, a.le-b.le)) })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		t.Fatalf("histogram %s is empty", name)
	}
	total := bs[len(bs)-1].n
	for _, b := range bs {
		if b.n >= q*total {
			return b.le
		}
	}
	return math.Inf(1)
}

// checkJobInvariants checks, on an idle server, that every job is
// accounted for once, and every refusal once by its reason.
func checkJobInvariants(t *testing.T, m map[string]float64) {
	t.Helper()
	sub, done := m[metrics.JobsSubmitted], m[metrics.JobsCompleted]
	rej, drop := m[metrics.JobsRejected], m[metrics.JobsDropped]
	inFlight := m[metrics.JobsQueued] + m[metrics.JobsRunning]
	if sub != done+rej+drop+inFlight {
		t.Errorf("submitted %v != completed %v + rejected %v + dropped %v + in flight %v", sub, done, rej, drop, inFlight)
	}
	if adm := m[metrics.JobsAdmitted]; adm != sub-rej {
		t.Errorf("admitted %v != submitted %v - rejected %v", adm, sub, rej)
	}
	var byReason float64
	for _, r := range overload.Refusals() {
		byReason += m[metrics.RefusedSeries(r)]
	}
	if byReason != rej+drop {
		t.Errorf("refusals by reason add up to %v, rejected + dropped is %v", byReason, rej+drop)
	}
}

func TestAdaptivePolicyBoundsTheWaitUnderSustainedOverload(t *testing.T) {
	static, adaptive := startPolicy(t, func(c *config.Config) { c.Overload = overload.Static.String() }), startPolicy(t, nil)
	c, w := measureBaseline(t, adaptive)
	st, ms := window(t, static, openLoop(static.URL("/data"), 3*c, 3*time.Second, nil))
	ad, ma := window(t, adaptive, openLoop(adaptive.URL("/data"), 3*c, 3*time.Second, nil))
	// The machine's speed drifts, by a fifth between two windows at times:
	// the static queue's goodput is measured again after the adaptive
	// policy's, which is held to the mean of the two, and W is the slower
	// of before and after.
	st2, _ := window(t, static, openLoop(static.URL("/data"), 3*c, 3*time.Second, nil))
	staticGoodput := (st.Goodput + st2.Goodput) / 2
	_, wAfter := measureBaseline(t, adaptive)
	w = max(w, wAfter)
	t.Logf("C %.0f/s, W %.2f ms; 200 p99: static %.1f ms, adaptive %.1f ms; goodput: static %.0f, adaptive %.0f, static %.0f/s",
		c, w, st.LatencyByStatus[200].P99, ad.LatencyByStatus[200].P99, st.Goodput, ad.Goodput, st2.Goodput)

	// The clients' view: the 200s wait a few jobs, not a full queue.
	if p99 := ad.LatencyByStatus[200].P99; p99 > 8*w || p99 > st.LatencyByStatus[200].P99/3 {
		t.Errorf("adaptive 200 p99 %.1f ms: want at most 8 W (%.1f ms) and a third of the static queue's %.1f ms",
			p99, 8*w, st.LatencyByStatus[200].P99)
	}
	if ad.Goodput < 0.7*c || ad.Goodput < 0.8*staticGoodput {
		t.Errorf("adaptive goodput %.0f/s: want at least 0.7 C (%.0f) and 0.8 of the static queue's %.0f", ad.Goodput, 0.7*c, staticGoodput)
	}
	// Refusals are fast: far below a 200's time.
	if p99 := ad.LatencyByStatus[503].P99; ad.Outcomes.Status[503] == 0 || p99 > ad.LatencyByStatus[200].P50 {
		t.Errorf("adaptive 503s: %d, p99 %.1f ms; want refusals faster than the median 200", ad.Outcomes.Status[503], p99)
	}
	// The server's view: its own queue-wait histogram.
	qs, qa := bucketQuantile(t, ms, metrics.QueueWait, 0.99), bucketQuantile(t, ma, metrics.QueueWait, 0.99)
	if qa > qs/3 {
		t.Errorf("queue wait p99 bucket: adaptive ≤ %v s, static ≤ %v s; want adaptive below a third", qa, qs)
	}
	if ma[metrics.OverloadSeconds] < 2.5 || ma[metrics.RefusedSeries(overload.PredictedWait)] == 0 {
		t.Errorf("adaptive server: %v s of the 3 overloaded, %v predicted-wait refusals; want it to have seen the overload",
			ma[metrics.OverloadSeconds], ma[metrics.RefusedSeries(overload.PredictedWait)])
	}
	if ms[metrics.OverloadSeconds] != 0 || ms[metrics.RefusedSeries(overload.QueueFull)] == 0 {
		t.Errorf("static server: %v s overloaded, %v queue-full refusals; want none and some", ms[metrics.OverloadSeconds], ms[metrics.RefusedSeries(overload.QueueFull)])
	}
	checkJobInvariants(t, scrape(t, static))
	checkJobInvariants(t, scrape(t, adaptive))
}

func TestAdaptivePolicyAbsorbsABurst(t *testing.T) {
	srv := startPolicy(t, nil)
	c, _ := measureBaseline(t, srv)
	// 0.4 C plus 10 simultaneous requests every half second: each burst
	// drains in 5 jobs' time, well within the 100 ms interval even when the
	// machine is slow (make bench measures bursts of 30). As in the bench
	// target, at most 2% may be refused.
	cfg := openLoop(srv.URL("/data"), 0.4*c, 2*time.Second, nil)
	cfg.Burst = loadtest.Burst{Size: 10, Every: 500 * time.Millisecond}
	res, m := window(t, srv, cfg)
	if n := res.Outcomes.Status[503]; float64(n) > 0.02*float64(res.Answered) || res.Outcomes.Status[200] < 100 {
		reasons := map[string]float64{}
		for _, r := range overload.Refusals() {
			reasons[r.String()] = m[metrics.RefusedSeries(r)]
		}
		t.Errorf("bursts: %v (refused: %v); want at most 2%% refused", res.Outcomes.Status, reasons)
	}
	// Whether the controller called it an overload for a moment is not
	// judged here: on a shared machine the server can stall for longer than
	// an interval, and jobs that waited through it were a standing queue.
	// The unit tests judge that on a fake clock; here every request must be
	// served.
	t.Logf("%v overload episodes during the bursts", m[metrics.OverloadEpisodes])
	checkJobInvariants(t, scrape(t, srv))
}

func TestUrgentRequestsGetThroughAnOverload(t *testing.T) {
	srv := startPolicy(t, nil)
	c, w := measureBaseline(t, srv)
	done := make(chan *loadtest.Result, 1)
	go func() {
		cfg := openLoop(srv.URL("/data"), 3*c, 4*time.Second, nil)
		cfg.Warmup = time.Second
		res, _ := loadtest.Run(testbin.Context(t), cfg)
		done <- res
	}()
	urgent, _ := window(t, srv, openLoop(srv.URL("/data"), 0.2*c, 3*time.Second, map[string]string{"Priority": "u=0"}))
	bulk := <-done
	if bulk == nil {
		t.Fatal("bulk load failed")
	}
	m := scrape(t, srv)
	ok := float64(urgent.Outcomes.Status[200]) / float64(urgent.Requests)
	t.Logf("urgent: %.1f%% of %d got 200, p99 %.1f ms; bulk 200 p99 %.1f ms, %d refused", 100*ok, urgent.Requests,
		urgent.LatencyByStatus[200].P99, bulk.LatencyByStatus[200].P99, bulk.Outcomes.Status[503])
	if ok < 0.95 {
		t.Errorf("%.1f%% of urgent requests got 200 under a 3× overload, want at least 95%%", 100*ok)
	}
	// Served first, an urgent job waits at most for a running one.
	if p99 := urgent.LatencyByStatus[200].P99; p99 > bulk.LatencyByStatus[200].P99 || p99 > 6*w {
		t.Errorf("urgent 200 p99 %.1f ms: want below bulk's %.1f ms and 6 W (%.1f ms)", p99, bulk.LatencyByStatus[200].P99, 6*w)
	}
	if m[`offload_jobs_by_urgency_total{outcome="completed",urgency="0"}`] < float64(urgent.Outcomes.Status[200]) {
		t.Errorf("the server counted %v urgent jobs completed, the client %d 200s", m[`offload_jobs_by_urgency_total{outcome="completed",urgency="0"}`], urgent.Outcomes.Status[200])
	}
	checkJobInvariants(t, m)
}

func TestDeadlineThatCannotBeMetIsRefusedAtOnce(t *testing.T) {
	srv := startPolicy(t, func(c *config.Config) { c.Pool = 1 })
	ctx := testbin.Context(t)
	// One 300 ms job holds the only worker.
	long := make(chan error, 1)
	go func() {
		code, _, err := observe.Get(ctx, srv.URL("/data?work=300ms"), 5*time.Second)
		if err == nil && code != 200 {
			err = fmt.Errorf("the long job was answered %d", code)
		}
		long <- err
	}()
	await.True(t, "the long job running", 5*time.Second, func() bool { return scrape(t, srv)[metrics.JobsRunning] == 1 })
	const budget = 50 * time.Millisecond
	res, err := loadtest.Run(ctx, loadtest.Config{
		URL: srv.URL("/data"), Header: map[string]string{"X-Request-Timeout": budget.String()}, Connections: 1, Duration: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Refused as it arrives, not after waiting out its budget.
	if res.Outcomes.Status[503] == 0 || res.Outcomes.Status[200] != 0 || res.Latency.Max > float64(budget.Milliseconds())/5 {
		t.Errorf("behind a 300 ms job with a %v budget: %v, slowest %.1f ms; want 503s within a fifth of the budget",
			budget, res.Outcomes.Status, res.Latency.Max)
	}
	if err := <-long; err != nil {
		t.Fatal(err)
	}
	m := scrape(t, srv)
	if m[metrics.RefusedSeries(overload.Deadline)] != float64(res.Outcomes.Status[503]) {
		t.Errorf("%v deadline refusals counted, %d answered", m[metrics.RefusedSeries(overload.Deadline)], res.Outcomes.Status[503])
	}
	// With a budget the job fits in, it runs.
	if code, _, err := observe.Get(ctx, srv.URL("/data"), 5*time.Second); err != nil || code != 200 {
		t.Errorf("idle server, no deadline: %d %v", code, err)
	}
	checkJobInvariants(t, m)
}

func TestOverloadExperimentTiny(t *testing.T) {
	c := DefaultOverloadConfig()
	c.Server, c.Procs, c.Scale = serverBin, 2, 0.5
	c.Policies = c.Policies[:2] // static and adaptive/fifo
	c.Phases = []Phase{
		{Name: "0.5x", Length: 2 * time.Second, Settle: time.Second, Rate: 0.5},
		{Name: PhaseUrgent, Length: 4 * time.Second, Settle: time.Second, Rate: 3, Urgent: 0.2},
		{Name: PhaseDeadline, Length: 3 * time.Second, Settle: time.Second, Rate: 2, Budget: 3},
	}
	var progress strings.Builder
	c.Progress = &progress
	res, err := Overload(testbin.Context(t), c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Baseline.Capacity <= 0 || res.Baseline.W <= 0 || res.Baseline.WDoubled <= res.Baseline.W {
		t.Fatalf("baseline %+v", res.Baseline)
	}
	if len(res.Runs) != 2 || len(res.Runs[1].Phases) != 3 || len(res.Runs[1].Timeline) < 10 {
		t.Fatalf("%d runs, %d phases, %d timeline buckets", len(res.Runs), len(res.Runs[1].Phases), len(res.Runs[1].Timeline))
	}
	static, adaptive := res.Runs[0].Phases, res.Runs[1].Phases
	if static[0].Refused != 0 || adaptive[0].Refused != 0 || adaptive[0].HealthzN == 0 {
		t.Errorf("half capacity: refused %.3f and %.3f, %d health checks", static[0].Refused, adaptive[0].Refused, adaptive[0].HealthzN)
	}
	if u := adaptive[1].Urgent; u == nil || u.OKShare < 0.9 || static[1].Urgent.OKShare > u.OKShare {
		t.Errorf("urgent traffic: static %+v, adaptive %+v; want adaptive to let it through", static[1].Urgent, u)
	}
	if adaptive[1].OverloadedShare < 0.5 || adaptive[1].UnreadyShare != 0 || static[1].UnreadyShare == 0 {
		t.Errorf("under overload: adaptive overloaded %.2f, unready %.2f; static unready %.2f; want overloaded, ready; and the static queue unready",
			adaptive[1].OverloadedShare, adaptive[1].UnreadyShare, static[1].UnreadyShare)
	}
	if adaptive[2].BudgetMs <= 0 || adaptive[2].LateOK > static[2].LateOK {
		t.Errorf("deadlines: budget %.1f ms, late 200s adaptive %d, static %d", adaptive[2].BudgetMs, adaptive[2].LateOK, static[2].LateOK)
	}
	if got := strings.Count(progress.String(), "phase "); got != 6 {
		t.Errorf("progress has %d phase lines, want 6:\n%s", got, progress.String())
	}
	dir := t.TempDir()
	if err := res.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{OverloadJSON, OverloadTable, OverloadLatencyChart, OverloadStateChart} {
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Size() == 0 {
			t.Errorf("%s: %v (want a non-empty file)", name, err)
		}
	}
	if md := res.Markdown(); !strings.Contains(md, "| 3x + urgent | adaptive/fifo |") || !strings.Contains(md, "urgent: ") {
		t.Errorf("table lacks the urgent phase:\n%s", md)
	}
}
