package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"offload/internal/testbin"
)

// serverBin is the real server, built once for the tests that run it.
var serverBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m, func(bins []string) { serverBin = bins[0] }, "./cmd/server"))
}

// need returns the path of a program the test needs, or skips the test
// saying what to install.
func need(t *testing.T, program, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s; .ci/run does): skipping", program, pkg)
	}
	return path
}

func TestPromtoolAcceptsConfigAndRules(t *testing.T) {
	promtool := need(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "rules.yml"},
		{"test", "rules", "rules_test.yml"},
	} {
		cmd := exec.CommandContext(testbin.Context(t), promtool, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// dashboard is what the tests read of deploy/grafana/offload.json.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("grafana", "offload.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana/offload.json: %v", err)
	}
	return d
}

// TestDashboardIsLaidOutAsTheExperimentReads checks the dashboard's shape:
// Grafana itself is not installable here, so the real check is that every
// expression returns data from a real Prometheus (TestRealTSDBs).
func TestDashboardIsLaidOutAsTheExperimentReads(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Error("dashboard without title or uid")
	}
	var titles []string
	for _, p := range d.Panels {
		titles = append(titles, p.Title)
		if p.Type != "timeseries" || len(p.Targets) == 0 {
			t.Errorf("panel %q: type %q, %d targets", p.Title, p.Type, len(p.Targets))
		}
	}
	for _, want := range []string{"accepted vs jobs completed", "Refusals by reason", "Queue wait and work time", "Listen queue", "Connections", "CPU"} {
		found := false
		for _, title := range titles {
			found = found || strings.Contains(title, want)
		}
		if !found {
			t.Errorf("no panel about %q in %q", want, titles)
		}
	}
}
