package metrics

import (
	"os"
	"os/exec"
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
	out := writeAll(t)
	seen := map[string]bool{}
	for line := range strings.Lines(out) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		name, _, _ = strings.Cut(name, "{")
		if !strings.HasPrefix(name, "offload_") {
			continue
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && strings.Contains(out, base+"_bucket") {
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

// writeAll is every family a server writes, from a Metrics with each
// source registered.
func writeAll(t *testing.T) string {
	t.Helper()
	m := New()
	m.ObserveOverload(func() overload.Stats { return overload.Stats{} })
	m.ObserveListenQueue(func() (int, int, error) { return 3, 1024, nil })
	m.SetConfig(Config{Mode: "offload", Overload: "adaptive", QueueOrder: "fifo", Workers: 2, Queue: 64, MaxConns: 100})
	m.ObserveRequest("/data", 200, time.Millisecond)
	var b strings.Builder
	m.WritePrometheus(&b)
	return b.String()
}

func TestEveryFamilyHasHelpAndType(t *testing.T) {
	out := writeAll(t)
	helped, typed := map[string]bool{}, map[string]bool{}
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, text, _ := strings.Cut(strings.TrimSpace(rest), " ")
			helped[name] = text != ""
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ := strings.Cut(rest, " ")
			typed[name] = true
		}
	}
	for name := range help {
		if !helped[name] || !typed[name] {
			t.Errorf("%s: help %v, type %v", name, helped[name], typed[name])
		}
	}
	for name, ok := range helped {
		if strings.HasPrefix(name, "offload_") && !ok {
			t.Errorf("%s has no help text", name)
		}
	}
	for _, want := range []string{
		`offload_build_info{version="`, `offload_config_info{mode="offload",overload="adaptive",queue_order="fifo"} 1`,
		"offload_config_workers 2", "offload_config_queue_capacity 64", "offload_config_max_connections 100",
		"offload_listen_queue_length 3", "offload_listen_queue_capacity 1024",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestPromtoolFindsNothingAboutOffload runs Prometheus's own linter over
// the output, when promtool is installed (CI installs Debian's prometheus).
func TestPromtoolFindsNothingAboutOffload(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus): the exposition is not linted")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(writeAll(t))
	out, _ := cmd.CombinedOutput() // exits 3 for the go_* and process_* findings
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "offload_") {
			t.Errorf("promtool: %s", strings.TrimSpace(line))
		}
	}
	if !strings.Contains(string(out), "go_") && len(out) > 0 {
		t.Logf("promtool said:\n%s", out)
	}
}
