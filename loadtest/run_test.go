package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClosedLoopLatency(t *testing.T) {
	url, ln := startServer(t, sleepHandler(10*time.Millisecond))
	res := mustRun(t, Config{URL: url, Connections: 4, Duration: time.Second})

	if p50 := res.Latency.P50; p50 < 10 || p50 > 15 {
		t.Errorf("p50 = %.2f ms, want within [10, 15]", p50)
	}
	if res.Outcomes.Errors() != 0 {
		t.Errorf("errors: %+v", res.Outcomes)
	}
	// Four workers at ~10 ms each for a second.
	if res.Answered < 100 {
		t.Errorf("answered %d, want at least 100", res.Answered)
	}
	if res.Histogram.TotalCount() != res.Answered {
		t.Errorf("histogram holds %d values, answered %d", res.Histogram.TotalCount(), res.Answered)
	}
	if got := ln.accepted.Load(); got != 4 || res.ConnectionsOpened != 4 {
		t.Errorf("accepted %d, opened %d connections, want 4 and 4", got, res.ConnectionsOpened)
	}
	if res.Throughput <= 0 || res.Goodput != res.Throughput {
		t.Errorf("throughput %.1f, goodput %.1f: want equal and > 0 with only 200s", res.Throughput, res.Goodput)
	}
}

// statusMix answers with a fixed sequence of statuses and counts what it
// sent, so the client's counts can be checked exactly.
type statusMix struct {
	mu   sync.Mutex
	n    int
	sent map[int]int64
}

func (s *statusMix) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.n++
	code := http.StatusOK
	switch {
	case s.n%5 == 0:
		code = http.StatusServiceUnavailable
	case s.n%7 == 0:
		code = http.StatusNotFound
	}
	s.sent[code]++
	s.mu.Unlock()
	w.WriteHeader(code)
}

func (s *statusMix) counts() map[int]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.sent)
}

func TestStatusCountsExact(t *testing.T) {
	mix := &statusMix{sent: make(map[int]int64)}
	url, _ := startServer(t, mix)
	res := mustRun(t, Config{URL: url, Connections: 3, Duration: 400 * time.Millisecond})

	// Run waits for the requests in flight at the end, so the server's
	// counts and the client's must agree to the request.
	want := mix.counts()
	if !maps.Equal(res.Outcomes.Status, want) {
		t.Errorf("client counted %v, server sent %v", res.Outcomes.Status, want)
	}
	if want[503] == 0 || want[404] == 0 || want[200] == 0 {
		t.Errorf("too few requests to see the mix: %v", want)
	}
	if res.Outcomes.Errors() != 0 {
		t.Errorf("errors: %+v", res.Outcomes)
	}
	if res.Goodput >= res.Throughput {
		t.Errorf("goodput %.1f should be below throughput %.1f with 404s and 503s", res.Goodput, res.Throughput)
	}
}

func TestWarmupIsNotRecorded(t *testing.T) {
	var served atomic.Int64
	url, _ := startServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		served.Add(1)
	}))
	res := mustRun(t, Config{URL: url, Connections: 1, Warmup: 500 * time.Millisecond, Duration: 300 * time.Millisecond})
	if res.Requests == 0 || res.Requests >= served.Load() {
		t.Errorf("recorded %d of %d requests served: warmup requests must be left out", res.Requests, served.Load())
	}
}

// stallServer answers at once, except that the first request arriving after
// stallAfter holds every request for stallFor.
type stallServer struct {
	stallAfter, stallFor time.Duration

	first   sync.Once
	start   time.Time
	stalled atomic.Bool
	gate    sync.RWMutex
}

func (s *stallServer) ServeHTTP(http.ResponseWriter, *http.Request) {
	s.first.Do(func() { s.start = time.Now() })
	if time.Since(s.start) >= s.stallAfter && s.stalled.CompareAndSwap(false, true) {
		s.gate.Lock()
		time.Sleep(s.stallFor)
		s.gate.Unlock()
		return
	}
	s.gate.RLock()
	defer s.gate.RUnlock()
}

func TestOpenLoopMeasuresQueueing(t *testing.T) {
	url, _ := startServer(t, &stallServer{stallAfter: time.Second, stallFor: time.Second})
	res := mustRun(t, Config{URL: url, Rates: []float64{100}, Duration: 3 * time.Second})

	// About a third of the requests were due while the server stalled, and
	// each waited for what was left of the stall.
	if res.Latency.P99 < 500 {
		t.Errorf("open loop p99 = %.1f ms, want >= 500 ms: the stall was hidden", res.Latency.P99)
	}
	if res.Outcomes.Missed != 0 || res.Requests != 300 || res.Answered != 300 {
		t.Errorf("requests %d, answered %d, missed %d: want 300, 300, 0", res.Requests, res.Answered, res.Outcomes.Missed)
	}
}

func TestClosedLoopHidesQueueing(t *testing.T) {
	// The contrast to TestOpenLoopMeasuresQueueing: a closed loop stops
	// sending while the server stalls, so one slow request among thousands
	// leaves p99 untouched. This is why the open loop exists.
	if testing.Short() {
		t.Skip("illustration only")
	}
	url, _ := startServer(t, &stallServer{stallAfter: 500 * time.Millisecond, stallFor: time.Second})
	res := mustRun(t, Config{URL: url, Connections: 1, Duration: 2 * time.Second})
	if res.Latency.Max < 900 {
		t.Errorf("max = %.1f ms, want the stall (~1000 ms) to be seen once", res.Latency.Max)
	}
	if res.Latency.P99 >= 500 {
		t.Errorf("closed loop p99 = %.1f ms: expected it to hide the stall", res.Latency.P99)
	}
}

func TestConnectionReuse(t *testing.T) {
	var served atomic.Int64
	handler := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) })

	t.Run("close", func(t *testing.T) {
		served.Store(0)
		url, ln := startServer(t, handler)
		res := mustRun(t, Config{URL: url, Connections: 2, Duration: 300 * time.Millisecond, Close: true})
		n := served.Load()
		if n < 10 {
			t.Fatalf("only %d requests served", n)
		}
		if got := ln.accepted.Load(); got != n || res.ConnectionsOpened != n || res.Answered != n {
			t.Errorf("served %d, accepted %d, opened %d, answered %d: want one connection per request",
				n, got, res.ConnectionsOpened, res.Answered)
		}
	})
	t.Run("keep-alive", func(t *testing.T) {
		served.Store(0)
		url, ln := startServer(t, handler)
		res := mustRun(t, Config{URL: url, Connections: 2, Duration: 300 * time.Millisecond})
		n := served.Load()
		if n < 10 {
			t.Fatalf("only %d requests served", n)
		}
		if got := ln.accepted.Load(); got != 2 || res.ConnectionsOpened != 2 {
			t.Errorf("accepted %d, opened %d for %d requests: want 2 reused connections", got, res.ConnectionsOpened, n)
		}
	})
}

func TestOutcomeClassification(t *testing.T) {
	const d = 250 * time.Millisecond
	type counts struct{ answered, timeouts, connect, resets, other int64 }
	tests := []struct {
		name string
		url  func(t *testing.T) string
		want func(counts) bool
	}{
		{
			name: "nothing listening is a connect error",
			url:  closedPortURL,
			want: func(c counts) bool { return c.connect > 0 && c == counts{connect: c.connect} },
		},
		{
			name: "slow handler is a timeout",
			url: func(t *testing.T) string {
				url, _ := startServer(t, sleepHandler(5*time.Second))
				return url
			},
			want: func(c counts) bool { return c.timeouts > 0 && c == counts{timeouts: c.timeouts} },
		},
		{
			name: "RST before the response is a reset",
			url: func(t *testing.T) string {
				return startRawServer(t, func(c net.Conn) {
					if readRequest(c) == nil {
						c.(*net.TCPConn).SetLinger(0)
					}
				})
			},
			want: func(c counts) bool { return c.resets > 0 && c == counts{resets: c.resets} },
		},
		{
			name: "close before the response is a reset",
			url: func(t *testing.T) string {
				return startRawServer(t, func(c net.Conn) { readRequest(c) })
			},
			want: func(c counts) bool { return c.resets > 0 && c == counts{resets: c.resets} },
		},
		{
			name: "garbage response is another error",
			url: func(t *testing.T) string {
				return startRawServer(t, func(c net.Conn) {
					if readRequest(c) == nil {
						c.Write([]byte("SMTP ready\r\n\r\n"))
					}
				})
			},
			want: func(c counts) bool { return c.other > 0 && c == counts{other: c.other} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustRun(t, Config{URL: tt.url(t), Connections: 1, Duration: d, Timeout: 100 * time.Millisecond})
			o := res.Outcomes
			got := counts{res.Answered, o.Timeouts, o.Connect, o.Resets, o.Other}
			if !tt.want(got) {
				t.Errorf("got %+v, samples %q", got, o.OtherSamples)
			}
			if o.Other > 0 && len(o.OtherSamples) == 0 {
				t.Errorf("other errors without a sample message")
			}
		})
	}
}

func TestOpenLoopCountsMissedSends(t *testing.T) {
	url, _ := startServer(t, sleepHandler(50*time.Millisecond))
	res := mustRun(t, Config{
		URL:         url,
		Rates:       []float64{200},
		MaxInflight: 2, // 40 req/s of capacity for 200 req/s of schedule
		Duration:    500 * time.Millisecond,
	})

	o := res.Outcomes
	if o.Missed == 0 {
		t.Errorf("missed = 0, want > 0")
	}
	// Every scheduled send is either made or counted missed: none vanish.
	if res.Requests+o.Missed != 100 {
		t.Errorf("requests %d + missed %d != 100 scheduled", res.Requests, o.Missed)
	}
	if res.Requests < 2 || res.ConnectionsOpened > 2 {
		t.Errorf("requests %d over %d connections: want some, over at most 2", res.Requests, res.ConnectionsOpened)
	}
	if res.ElapsedSeconds < 0.5 {
		t.Errorf("elapsed %.3fs, want at least the 0.5s duration", res.ElapsedSeconds)
	}
	var text strings.Builder
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "Missed") {
		t.Errorf("summary does not report missed sends:\n%s", text.String())
	}
}

func TestCancelReturnsPartialResult(t *testing.T) {
	// With one connection, the second request arriving proves the first
	// was answered and recorded; the second is then held until the client
	// gives up, which only cancellation can make it do.
	blocked := make(chan struct{})
	var n atomic.Int64
	url, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			return
		case 2:
			close(blocked)
		}
		<-r.Context().Done()
	}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Run(ctx, Config{URL: url, Connections: 1, Duration: time.Minute, Timeout: time.Minute})
		done <- outcome{res, err}
	}()

	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the second request never reached the server")
	}
	cancel()
	var got outcome
	select {
	case got = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	if got.err != nil {
		t.Fatalf("Run: %v", got.err)
	}
	res := got.res
	if !res.Interrupted || res.ElapsedSeconds >= 60 {
		t.Errorf("interrupted %v after %.1fs, want true and well under the duration", res.Interrupted, res.ElapsedSeconds)
	}
	if res.Outcomes.Status[200] != 1 || res.Outcomes.Errors() != 0 {
		t.Errorf("outcomes %+v: want the one answer, and the abandoned requests not counted as errors", res.Outcomes)
	}
}

func TestResultJSON(t *testing.T) {
	url, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	res := mustRun(t, Config{URL: url, Rates: []float64{50, 100}, Duration: 200 * time.Millisecond})
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"mode":"open"`, `"rates":[50,100]`, `"latency_ms":{"p50":`, `"p99_9":`, `"status":{"503":`, `"missed":0`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Outcomes.Status[503] != res.Outcomes.Status[503] || back.Latency != res.Latency {
		t.Errorf("JSON round trip changed the result: %+v", back)
	}
	// 50 req/s for 0.1 s, then 100 req/s for 0.1 s.
	if res.Requests != 15 {
		t.Errorf("requests = %d, want 15", res.Requests)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{URL: "http://127.0.0.1:1/", Connections: 1, Duration: time.Second}
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"no url", func(c *Config) { c.URL = "" }, "url is required"},
		{"https", func(c *Config) { c.URL = "https://x/" }, "scheme must be http"},
		{"no host", func(c *Config) { c.URL = "http:///data" }, "missing host"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "duration must be > 0"},
		{"negative warmup", func(c *Config) { c.Warmup = -1 }, "warmup must be >= 0"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout must be > 0"},
		{"no load", func(c *Config) { c.Connections = 0 }, "connections must be > 0"},
		{"both models", func(c *Config) { c.Rates = []float64{1} }, "not both"},
		{"zero rate", func(c *Config) { c.Connections, c.Rates = 0, []float64{100, 0} }, "rate must be > 0"},
		{"max inflight in closed loop", func(c *Config) { c.MaxInflight = 5 }, "open loop only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.modify(&cfg)
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestLatencyByStatus(t *testing.T) {
	// Every other request is refused at once; the rest take 20 ms. The
	// overall p50 mixes them; per status each keeps its own shape.
	var n atomic.Int64
	url, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}))
	res := mustRun(t, Config{URL: url, Connections: 4, Duration: time.Second})
	ok, busy := res.LatencyByStatus[200], res.LatencyByStatus[503]
	if ok.P50 < 20 || busy.P99 >= 10 {
		t.Fatalf("200s p50 %.2f ms (want >= 20), 503s p99 %.2f ms (want < 10)", ok.P50, busy.P99)
	}
	if len(res.LatencyByStatus) != 2 {
		t.Fatalf("latency for statuses %v, want 200 and 503 only", res.LatencyByStatus)
	}
}

func TestBurstsAndRecords(t *testing.T) {
	// Each request takes 5 ms, so only a burst has 10 in flight together.
	var inflight, peak atomic.Int64
	url, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
	}))
	res := mustRun(t, Config{
		URL: url, Rates: []float64{20}, Burst: Burst{Size: 10, Every: 300 * time.Millisecond},
		Warmup: 100 * time.Millisecond, Duration: 900 * time.Millisecond, Record: true,
	})
	// 20/s for 1 s, plus bursts at 300, 600 and 900 ms.
	if n := len(res.Records); n != 20+30 {
		t.Fatalf("%d records, want 50 (20 at the rate, 3 bursts of 10)", n)
	}
	atBurst := map[time.Duration]int{}
	for i, r := range res.Records {
		if i > 0 && r.At < res.Records[i-1].At {
			t.Fatalf("records out of order at %d", i)
		}
		if r.Status != 200 || r.Latency < 5*time.Millisecond {
			t.Fatalf("record %+v, want 200 after at least 5 ms", r)
		}
		if r.At%(300*time.Millisecond) == 0 {
			atBurst[r.At]++
		}
	}
	for _, at := range []time.Duration{300, 600, 900} {
		if atBurst[at*time.Millisecond] < 10 {
			t.Errorf("%d requests due at %v ms, want the burst's 10", atBurst[at*time.Millisecond], at)
		}
	}
	if peak.Load() < 10 {
		t.Errorf("at most %d requests in flight at once; a burst should send 10 together", peak.Load())
	}
	// Only the measured part counts in the summary: the warmup's two
	// requests are records, not answers.
	if res.Answered != 48 {
		t.Errorf("answered %d after the warmup, want 48", res.Answered)
	}
}

func TestBurstNeedsOpenLoop(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "http://127.0.0.1:1/", Connections: 1, Duration: time.Second, Burst: Burst{Size: 3, Every: time.Second}},
		{URL: "http://127.0.0.1:1/", Rates: []float64{1}, Duration: time.Second, Burst: Burst{Size: 3}},
		{URL: "http://127.0.0.1:1/", Rates: []float64{1}, Duration: time.Second, Burst: Burst{Size: -1, Every: time.Second}},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run accepted burst %+v with connections %d", cfg.Burst, cfg.Connections)
		}
	}
}
