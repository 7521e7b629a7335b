package loadtest

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenResults are hand-made results covering every part of the summary:
// both models, several statuses, error samples and an interruption.
func goldenResults() map[string]*Result {
	hist := newHistogram(time.Second)
	for _, us := range []int64{900, 1500, 2500, 12000} {
		_ = hist.RecordValue(us)
	}
	open := &Result{
		Mode: Open, URL: "http://127.0.0.1:8080/data", Rates: []float64{200, 400.5}, MaxInflight: 50,
		DurationSeconds: 30, WarmupSeconds: 5, TimeoutSeconds: 2, ElapsedSeconds: 12.3456, Interrupted: true,
		Requests: 1234, Answered: 1200, Throughput: 97.25, Goodput: 80.125,
		Latency: latencyOf(hist),
		LatencyByStatus: map[int]Latency{
			200: {P50: 1, P90: 2, P99: 3, P999: 4, Max: 5, Mean: 1.5},
			503: {P50: 0.1, Max: 0.5},
		},
		Outcomes: Outcomes{
			Status: map[int]int64{200: 1000, 503: 200}, Timeouts: 10, Connect: 5, Resets: 4, Other: 15,
			OtherSamples: []string{"malformed response", "body too large"}, Missed: 7,
		},
		ConnectionsOpened: 50,
		Histogram:         hist,
	}
	closed := &Result{
		Mode: Closed, URL: "http://127.0.0.1:8080/", Connections: 4, Close: true,
		DurationSeconds: 1, TimeoutSeconds: 10, ElapsedSeconds: 1.0004,
		LatencyByStatus: map[int]Latency{}, Outcomes: Outcomes{Status: map[int]int64{}},
	}
	single := &Result{
		Mode: Open, URL: "http://127.0.0.1:8080/data", Rates: []float64{100}, MaxInflight: 1000,
		DurationSeconds: 2, WarmupSeconds: 0.5, TimeoutSeconds: 1, ElapsedSeconds: 2.01,
		Requests: 200, Answered: 200, Throughput: 99.5, Goodput: 99.5,
		LatencyByStatus:   map[int]Latency{200: {P50: 1, P90: 2, P99: 3, P999: 4, Max: 5, Mean: 1.5}},
		Outcomes:          Outcomes{Status: map[int]int64{200: 200}},
		ConnectionsOpened: 3,
	}
	return map[string]*Result{"open": open, "closed": closed, "single": single}
}

// TestResultGolden pins the text summary and the JSON form of a result.
func TestResultGolden(t *testing.T) {
	for name, res := range goldenResults() {
		var text strings.Builder
		if err := res.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		js, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name+".txt", text.String())
		golden(t, name+".json", string(js)+"\n")
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}
