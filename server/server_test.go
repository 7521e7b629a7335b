package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"offload/config"
	"offload/internal/await"
	"offload/metrics"
	"offload/serverlog"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp keeps a process-wide goroutine that refreshes the Date
		// header, and each Serve's idle-worker cleaner notices a stop only
		// after its sleep (MaxIdleWorkerDuration). Both are fasthttp's own
		// and bounded: one per process, and one per Serve for 2 s.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

// running is a server started in-process on 127.0.0.1.
type running struct {
	srv    *Server
	url    string
	addr   string
	stop   context.CancelFunc
	done   chan error
	client *http.Client
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a server with the test defaults changed by tune. It is shut
// down when the test ends, unless the test already did.
func start(t *testing.T, tune func(*config.Config)) *running {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.Acceptors = 2
	cfg.Pool = 2
	cfg.Work = 100 * time.Microsecond
	cfg.ShutdownTimeout = 5 * time.Second
	if tune != nil {
		tune(&cfg)
	}
	logs := &syncBuffer{}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var handler slog.Handler = slog.NewTextHandler(logs, opts)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(logs, opts)
	}
	log := slog.New(handler)
	srv, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{
		srv: srv, addr: srv.Addr().String(), url: "http://" + srv.Addr().String(),
		stop: cancel, done: make(chan error, 1), logs: logs,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	go func() { r.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		r.client.CloseIdleConnections()
		r.shutdown(t)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return r
}

// shutdown cancels the server and returns what Run returned.
func (r *running) shutdown(t *testing.T) error {
	t.Helper()
	r.stop()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancellation")
		return nil
	}
}

func (r *running) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := r.client.Get(r.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// metric reads one sample from /metrics.
func (r *running) metric(t *testing.T, series string) float64 {
	t.Helper()
	_, _, body := r.get(t, "/metrics")
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return v
		}
	}
	t.Fatalf("/metrics has no series %s", series)
	return 0
}

type reply struct {
	code   int
	header http.Header
	body   string
	err    error
}

// getAsync sends GET path on a new connection of its own.
func (r *running) getAsync(path string) <-chan reply {
	ch := make(chan reply, 1)
	go func() {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(r.url + path)
		if err != nil {
			ch <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		ch <- reply{resp.StatusCode, resp.Header, string(b), err}
	}()
	return ch
}

func TestServesDataUnderLoad(t *testing.T) {
	r := start(t, nil)
	const clients, perClient = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	for range clients {
		wg.Go(func() {
			for range perClient {
				resp, err := r.client.Get(r.url + "/data")
				if err != nil {
					errs <- err
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `{"street":"10 Downing Street","city":"Value: `) {
					errs <- fmt.Errorf("status %d body %q", resp.StatusCode, b)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := r.metric(t, `offload_http_requests_total{path="/data",code="200"}`); got != clients*perClient {
		t.Fatalf("server counted %v answered /data requests, want %d", got, clients*perClient)
	}
	checkCounters(t, r)
}

// checkCounters asserts the invariants between the connection and job
// counters of a server.
func checkCounters(t *testing.T, r *running) {
	t.Helper()
	accepted := r.metric(t, "offload_connections_accepted_total")
	closed := r.metric(t, "offload_connections_closed_total")
	active := r.metric(t, "offload_connections_active")
	if accepted < closed || accepted-closed != active {
		t.Errorf("connections: accepted %v, closed %v, active %v; want accepted-closed = active >= 0", accepted, closed, active)
	}
	submitted := r.metric(t, "offload_jobs_submitted_total")
	completed := r.metric(t, "offload_jobs_completed_total")
	rejected := r.metric(t, "offload_jobs_rejected_total")
	dropped := r.metric(t, "offload_jobs_dropped_total")
	inFlight := r.metric(t, "offload_jobs_queued") + r.metric(t, "offload_jobs_running")
	if submitted != completed+rejected+dropped+inFlight {
		t.Errorf("jobs: submitted %v != completed %v + rejected %v + dropped %v + in flight %v",
			submitted, completed, rejected, dropped, inFlight)
	}
}

func TestSaturatedPoolAnswers503AndHealthzStaysFast(t *testing.T) {
	for _, policy := range []string{"static", "adaptive"} {
		t.Run(policy, func(t *testing.T) { testSaturatedPool(t, policy) })
	}
}

func testSaturatedPool(t *testing.T, policy string) {
	r := start(t, func(c *config.Config) { c.Pool, c.Queue, c.Overload = 1, 1, policy })
	m := r.srv.Metrics()
	// One slow job runs, one waits: the pool is saturated for 2 × job. A
	// request stuck behind the work would take about a job's time, so the
	// checks below allow a third of it.
	const job = 300 * time.Millisecond
	running := r.getAsync("/data?work=" + job.String())
	await.True(t, "a running job", 10*time.Second, func() bool { return m.JobsRunning.Get() == 1 })
	queued := r.getAsync("/data?work=" + job.String())
	await.True(t, "a queued job", 10*time.Second, func() bool { return m.JobsQueued.Get() == 1 })

	start := time.Now()
	code, header, body := r.get(t, "/data")
	// The adaptive policy may already have seen the queue stand for an
	// interval, and then refuses by the predicted wait instead.
	refused := strings.Contains(body, "queue is full") || policy == "adaptive" && strings.Contains(body, "would wait longer")
	if code != 503 || !refused || header.Get("Retry-After") != "1" {
		t.Fatalf("saturated /data: %d Retry-After=%q %q; want 503, Retry-After 1 (the backlog drains within a second)", code, header.Get("Retry-After"), body)
	}
	if d := time.Since(start); d > job/3 {
		t.Fatalf("rejection took %v, over a third of a job (%v): a full queue must be refused at once", d, job)
	}
	// Readiness follows a full queue only under the static policy, as it
	// always did; the adaptive policy answers overload with refusals alone.
	if code, _, _ := r.get(t, "/readyz"); (code == 503) != (policy == "static") {
		t.Fatalf("/readyz with a full queue under the %s policy: %d", policy, code)
	}
	var slowest time.Duration
	for range 20 {
		start := time.Now()
		if code, _, _ := r.get(t, "/healthz"); code != 200 {
			t.Fatalf("/healthz while saturated: %d", code)
		}
		slowest = max(slowest, time.Since(start))
	}
	if slowest > job/3 {
		t.Fatalf("slowest /healthz while the pool was saturated took %v, over a third of a job (%v)", slowest, job)
	}
	if m.JobsRunning.Get() != 1 || m.JobsQueued.Get() != 1 {
		t.Fatal("the pool drained before the health checks were done; the test proved nothing")
	}
	for _, ch := range []<-chan reply{running, queued} {
		if rep := <-ch; rep.err != nil || rep.code != 200 {
			t.Fatalf("accepted job: %d %v, want 200", rep.code, rep.err)
		}
	}
	if code, _, _ := r.get(t, "/readyz"); code != 200 {
		t.Fatalf("/readyz after the queue drained: %d, want 200", code)
	}
	checkCounters(t, r)
}

func TestQueueTimeoutAnswers503(t *testing.T) {
	// The static policy lets the job wait out the timeout, then drops it;
	// the adaptive one predicts the wait and refuses it at once.
	for _, tc := range []struct {
		policy, body, counter string
	}{
		{"static", "-queue-timeout", "offload_jobs_dropped_total"},
		{"adaptive", "would wait longer", "offload_jobs_rejected_total"},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			r := start(t, func(c *config.Config) {
				c.Pool, c.Queue, c.QueueTimeout, c.Overload = 1, 4, 50*time.Millisecond, tc.policy
			})
			m := r.srv.Metrics()
			slow := r.getAsync("/data?work=200ms")
			await.True(t, "a running job", 10*time.Second, func() bool { return m.JobsRunning.Get() == 1 })
			late := r.getAsync("/data")
			rep := <-late
			if rep.err != nil || rep.code != 503 || rep.header.Get("Retry-After") == "" || !strings.Contains(rep.body, tc.body) {
				t.Fatalf("job stuck behind 200ms of work with a 50ms queue timeout: %d %q %v", rep.code, rep.body, rep.err)
			}
			if rep := <-slow; rep.code != 200 {
				t.Fatalf("slow job: %d", rep.code)
			}
			if n := r.metric(t, tc.counter); n != 1 {
				t.Fatalf("%s %v, want 1", tc.counter, n)
			}
			if n := r.metric(t, `offload_jobs_refused_total{reason="`+map[string]string{"static": "dropped_stale", "adaptive": "predicted_wait"}[tc.policy]+`"}`); n != 1 {
				t.Fatalf("refusals by reason: %v, want 1", n)
			}
		})
	}
}

func TestWorkIterationSkipsCalibration(t *testing.T) {
	// 37.5 ns is no machine's measured cost to the digit, so the metrics
	// below can only come from the flag.
	r := start(t, func(c *config.Config) { c.WorkIterationNs, c.Work = 37.5, 3*time.Millisecond })
	if got := r.metric(t, metrics.WorkIteration); got != 37.5e-9 {
		t.Errorf("%s = %g, want 3.75e-08 from -work-iteration-ns", metrics.WorkIteration, got)
	}
	if got := r.metric(t, metrics.WorkIterations); got != 80000 {
		t.Errorf("%s = %g, want 80000 (3ms / 37.5ns)", metrics.WorkIterations, got)
	}
}

func TestInlineModeServes(t *testing.T) {
	r := start(t, func(c *config.Config) { c.Mode = config.ModeInline })
	if code, _, body := r.get(t, "/data?work=10us"); code != 200 || !strings.Contains(body, `"count":`) {
		t.Fatalf("inline /data: %d %q", code, body)
	}
	if got := r.srv.Metrics().JobsCompleted.Get(); got != 1 {
		t.Fatalf("inline mode counted %d completed jobs, want 1", got)
	}
}

// send writes request on a new connection, which has 5 s to answer.
func send(t *testing.T, addr, request string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// rawExchange sends raw bytes on a new connection and returns the status
// line of the answer.
func rawExchange(t *testing.T, addr, request string) string {
	t.Helper()
	c := send(t, addr, request)
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestRequestLimits(t *testing.T) {
	r := start(t, func(c *config.Config) { c.MaxHeaderBytes, c.MaxBody = 2048, 100 })
	bigHeader := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 4096) + "\r\n\r\n"
	if got := rawExchange(t, r.addr, bigHeader); !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Errorf("oversized header: %q, want 431", got)
	}
	bigBody := "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" + strings.Repeat("b", 101)
	if got := rawExchange(t, r.addr, bigBody); !strings.HasPrefix(got, "HTTP/1.1 413") {
		t.Errorf("oversized body: %q, want 413", got)
	}
	if got := rawExchange(t, r.addr, "BLAH\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400") {
		t.Errorf("garbage: %q, want 400", got)
	}
	if got := rawExchange(t, r.addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("b", 100)); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("body at the limit: %q, want 200", got)
	}
}

func TestHeadAnswersLikeGetWithoutBody(t *testing.T) {
	r := start(t, nil)
	for _, path := range []string{"/data?work=10us", "/healthz", "/readyz", "/metrics"} {
		get := rawAnswer(t, r.addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		head := rawAnswer(t, r.addr, "HEAD "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if get.StatusCode != 200 || head.StatusCode != 200 {
			t.Errorf("%s: GET %d, HEAD %d; want 200 for both", path, get.StatusCode, head.StatusCode)
		}
		if len(head.body) != 0 {
			t.Errorf("HEAD %s carried a body: %q", path, head.body)
		}
		if ct := head.Header.Get("Content-Type"); ct != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: Content-Type %q, GET has %q", path, ct, get.Header.Get("Content-Type"))
		}
		// /metrics changes between two requests; the others answer the
		// same length every time.
		if path != "/metrics" && head.ContentLength != int64(len(get.body)) {
			t.Errorf("HEAD %s: Content-Length %d, GET's body is %d bytes", path, head.ContentLength, len(get.body))
		}
	}
}

// rawResponse is an answer read off the wire, body included.
type rawResponse struct {
	*http.Response
	body []byte
}

// rawAnswer sends request on a new connection and reads the whole answer:
// the server must close the connection after it (send Connection: close),
// so that a body sent where none belongs shows up.
func rawAnswer(t *testing.T, addr, request string) rawResponse {
	t.Helper()
	c := send(t, addr, request)
	defer c.Close()
	raw, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("answer without end of header: %q", raw)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(append(head, "\r\n\r\n"...))), nil)
	if err != nil {
		t.Fatalf("parse answer: %v", err)
	}
	return rawResponse{Response: resp, body: body}
}

// closedWithin reports whether the server closes c within limit, without
// the client sending anything more.
func closedWithin(c net.Conn, limit time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

func TestIdleAndSlowClientsAreClosed(t *testing.T) {
	r := start(t, func(c *config.Config) { c.IdleTimeout, c.ReadTimeout = 200*time.Millisecond, 300*time.Millisecond })

	idle, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if !closedWithin(idle, 3*time.Second) {
		t.Fatal("an idle keep-alive connection stayed open past -idle-timeout")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before -idle-timeout", d)
	}

	slow, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "GET /healthz HTTP/1.1\r\nHo"); err != nil {
		t.Fatal(err)
	}
	_ = slow.SetReadDeadline(time.Now().Add(3 * time.Second))
	answer, err := io.ReadAll(slow)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a client that never finished its header kept the connection past -read-timeout")
	}
	if !strings.HasPrefix(string(answer), "HTTP/1.1 408") || !strings.Contains(string(answer), "-read-timeout") {
		t.Errorf("a client that never finished its header got %q, want 408 naming -read-timeout", answer)
	}
	await.True(t, "all connections closed", 10*time.Second, func() bool { return r.srv.tracker.Active() == 0 })
}

func TestGracefulShutdownAnswersInFlight(t *testing.T) {
	r := start(t, func(c *config.Config) { c.Pool, c.Queue = 1, 8 })
	m := r.srv.Metrics()
	var inflight []<-chan reply
	for range 3 {
		inflight = append(inflight, r.getAsync("/data?work=250ms"))
	}
	await.True(t, "one running and two queued", 10*time.Second, func() bool { return m.JobsRunning.Get() == 1 && m.JobsQueued.Get() == 2 })

	stopped := make(chan error, 1)
	go func() { stopped <- r.shutdown(t) }()
	await.True(t, "draining", 10*time.Second, r.srv.draining.Load)
	await.True(t, "listeners closed", 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	for i, ch := range inflight {
		if rep := <-ch; rep.err != nil || rep.code != 200 {
			t.Fatalf("in-flight request %d during shutdown: %d %v, want 200", i, rep.code, rep.err)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run after a clean drain returned %v, want nil", err)
	}
	if !strings.Contains(r.logs.String(), "waiting on ") {
		t.Errorf("no drain progress logged:\n%s", r.logs.String())
	}
}

func TestShutdownTimeoutForcesClose(t *testing.T) {
	r := start(t, func(c *config.Config) { c.Pool, c.ShutdownTimeout = 1, 200*time.Millisecond })
	m := r.srv.Metrics()
	slow := r.getAsync("/data?work=800ms")
	await.True(t, "a running job", 10*time.Second, func() bool { return m.JobsRunning.Get() == 1 })
	queued := r.getAsync("/data?work=800ms")
	await.True(t, "a queued job", 10*time.Second, func() bool { return m.JobsQueued.Get() == 1 })
	err := r.shutdown(t)
	if err == nil || !strings.Contains(err.Error(), "shutdown timed out") {
		t.Fatalf("Run returned %v, want a shutdown timeout error", err)
	}
	// The running job was allowed to finish; the queued one never ran.
	if m.JobsDropped.Get() != 1 || m.JobsCompleted.Get() != 1 {
		t.Fatalf("after a forced shutdown: dropped %d completed %d, want 1 and 1", m.JobsDropped.Get(), m.JobsCompleted.Get())
	}
	for _, ch := range []<-chan reply{slow, queued} {
		if rep := <-ch; rep.err == nil && rep.code == 200 {
			t.Fatal("a request got 200 after its connection was force-closed")
		}
	}
}

// TestLogContract checks the records programs read from the JSON log with
// the decoder they use: the ready record's address and the stats record's
// counts.
func TestLogContract(t *testing.T) {
	r := start(t, func(c *config.Config) { c.StatsInterval, c.LogFormat = 20*time.Millisecond, "json" })
	r.get(t, "/data")
	var ready, stats []serverlog.Record
	await.True(t, "a stats record with the request's job", 10*time.Second, func() bool {
		ready, stats = nil, nil
		for line := range strings.Lines(r.logs.String()) {
			rec, err := serverlog.Decode([]byte(line))
			if err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			switch rec.Msg {
			case serverlog.MsgReady:
				ready = append(ready, rec)
			case serverlog.MsgStats:
				stats = append(stats, rec)
			}
		}
		return slices.ContainsFunc(stats, func(rec serverlog.Record) bool { return rec.Submitted > 0 && rec.Completed > 0 })
	})
	if len(ready) != 1 || ready[0].Addr != r.addr || ready[0].Level != "INFO" {
		t.Errorf("ready records %+v, want one at INFO with addr %s", ready, r.addr)
	}
	for _, rec := range stats {
		if rec.Time.IsZero() || rec.Accepted < 0 || rec.Queued != 0 {
			t.Errorf("stats record %+v: want a time, rates >= 0 and nothing queued", rec)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Pool, cfg.Mode = -1, "sideways"
	_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "-pool -1") || !strings.Contains(err.Error(), `-mode "sideways"`) {
		t.Fatalf("New with two bad flags returned %v, want both named", err)
	}
}

func TestMetricsAndDebugListeners(t *testing.T) {
	get := func(addr, path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s%s: %v", addr, path, err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	// The same address for both: one listener serves both.
	r := start(t, func(c *config.Config) { c.MetricsAddr, c.DebugAddr = "127.0.0.1:0", "127.0.0.1:0" })
	addr := r.srv.MetricsAddr().String()
	if get(addr, "/metrics") != 200 || get(addr, "/debug/pprof/") != 200 {
		t.Fatalf("one listener for -metrics-addr and -debug-addr does not serve both")
	}
	// Apart: pprof is not on the metrics listener.
	r2 := start(t, func(c *config.Config) { c.MetricsAddr = "127.0.0.1:0" })
	addr = r2.srv.MetricsAddr().String()
	if get(addr, "/metrics") != 200 || get(addr, "/debug/pprof/") != 404 {
		t.Fatalf("-metrics-addr alone: want /metrics and no pprof")
	}
	if code, _, _ := r2.get(t, "/metrics"); code != 200 {
		t.Fatalf("/metrics on the service port: %d, want it kept", code)
	}
	if r.srv.MetricsAddr() == nil || start(t, nil).srv.MetricsAddr() != nil {
		t.Fatal("MetricsAddr: want the listener's address with -metrics-addr, nil without")
	}
}
