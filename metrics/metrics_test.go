package metrics

import (
	"os"
	"strings"
	"testing"
	"time"

	"offload/overload"
)

func TestRequestsByPathAndCode(t *testing.T) {
	m := New()
	m.ObserveRequest("/data", 200, 4*time.Millisecond)
	m.ObserveRequest("/data", 200, 4*time.Millisecond)
	m.ObserveRequest("/data", 418, time.Millisecond) // not pre-created
	m.ObserveRequest("/wp-login.php", 404, time.Millisecond)
	m.CountRequest("other", 400)

	var b strings.Builder
	m.WritePrometheus(&b)
	out := b.String()
	for _, want := range []string{
		`offload_http_requests_total{path="/data",code="200"} 2`,
		`offload_http_requests_total{path="/data",code="418"} 1`,
		`offload_http_requests_total{path="other",code="404"} 1`,
		`offload_http_requests_total{path="other",code="400"} 1`,
		`offload_request_duration_seconds_count{path="/data"} 3`,
		// CountRequest does not time: only the 404 is in the histogram.
		`offload_request_duration_seconds_count{path="other"} 1`,
		`offload_request_duration_seconds_bucket{path="/data",le="0.005"} 3`,
		"offload_connections_accepted_total 0",
		`offload_accept_errors_total{kind="resource"} 0`,
		"process_resident_memory_bytes ",
		"go_goroutines ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "wp-login") {
		t.Error("an unknown path became a label value: clients could grow the series without bound")
	}
}

func TestSetsAreIndependent(t *testing.T) {
	a, b := New(), New()
	a.JobsSubmitted.Inc()
	if b.JobsSubmitted.Get() != 0 {
		t.Fatal("two Metrics share a counter")
	}
}

// TestREADMEDocumentsEveryMetric keeps the README's metrics table honest:
// every offload_* family the server writes has a row.
func TestREADMEDocumentsEveryMetric(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	m.ObserveOverload(func() overload.Stats { return overload.Stats{} })
	var b strings.Builder
	m.WritePrometheus(&b)
	seen := map[string]bool{}
	for line := range strings.Lines(b.String()) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		name, _, _ = strings.Cut(name, "{")
		if !strings.HasPrefix(name, "offload_") {
			continue
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && strings.Contains(b.String(), base+"_bucket") {
				name = base
			}
		}
		if !seen[name] && !strings.Contains(string(readme), "`"+name) {
			t.Errorf("README.md does not document %s", name)
		}
		seen[name] = true
	}
	if len(seen) < 20 {
		t.Fatalf("only %d offload_* families written", len(seen))
	}
}
