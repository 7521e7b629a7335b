package experiment

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"offload/config"
	"offload/internal/testbin"
)

// tinySweep is the smallest sweep that still measures something: two pool
// sizes, one mode, one second each.
func tinySweep() SweepConfig {
	c := DefaultSweepConfig()
	c.Server = serverBin
	c.Procs = 2
	c.Pools = []int{1, 2}
	c.Modes = []string{config.ModeOffload}
	c.Connections = 4
	c.Duration = time.Second
	c.Warmup = 200 * time.Millisecond
	c.Settings.Work = time.Millisecond
	c.Timeout = 5 * time.Second
	return c
}

func TestSweepEndToEnd(t *testing.T) {
	c := tinySweep()
	var progress strings.Builder
	c.Progress = &progress
	res, err := Sweep(testbin.Context(t), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 {
		t.Fatalf("got %d rows, want 2 (pools 1 and 2)", len(res.Rows))
	}
	for i, row := range res.Rows {
		if row.Mode != config.ModeOffload || row.Engine != Builtin || row.Pool != c.Pools[i] {
			t.Errorf("row %d is %s/%s/pool %d, want offload/builtin/pool %d", i, row.Mode, row.Engine, row.Pool, c.Pools[i])
		}
		checkRow(t, row)
		if row.P999Ms < row.P99Ms {
			t.Errorf("row %d: p99.9 %v, want >= p99 %.2f", i, row.P999Ms, row.P99Ms)
		}
	}
	if want := "run 1 of 2 (mode=offload pool=1 engine=builtin)\nrun 2 of 2 (mode=offload pool=2 engine=builtin)\n"; progress.String() != want {
		t.Errorf("progress:\n%s\nwant one line per run", progress.String())
	}

	dir := t.TempDir()
	if err := res.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{SweepJSON, SweepCSV, SweepTable, SweepChart} {
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Size() == 0 {
			t.Errorf("%s: %v (want a non-empty file)", name, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, SweepTable))
	if rows := strings.Count(string(md), "\n| offload | builtin |"); rows != 2 {
		t.Errorf("table.md has %d offload rows, want 2:\n%s", rows, md)
	}
	f, err := os.Open(filepath.Join(dir, SweepCSV))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil || len(records) != 3 {
		t.Errorf("results.csv: %d records, %v; want a header and 2 rows", len(records), err)
	}
	var back SweepResult
	data, _ := os.ReadFile(filepath.Join(dir, SweepJSON))
	if err := json.Unmarshal(data, &back); err != nil || len(back.Rows) != 2 || back.Config.Procs != 2 {
		t.Errorf("results.json does not round-trip: %v, %+v", err, back.Config)
	}
}

// checkRow checks the numbers any healthy run must have.
func checkRow(t *testing.T, row Row) {
	t.Helper()
	if row.Throughput <= 0 || row.Requests <= 0 {
		t.Errorf("%s/%s pool %d: %.1f req/s from %d requests, want > 0", row.Mode, row.Engine, row.Pool, row.Throughput, row.Requests)
	}
	if row.Errors != 0 || row.Status503 != 0 {
		t.Errorf("%s/%s pool %d: %d errors, %d 503s; want none with a closed loop smaller than the queue", row.Mode, row.Engine, row.Pool, row.Errors, row.Status503)
	}
	if row.P50Ms <= 0 || row.P99Ms < row.P50Ms {
		t.Errorf("%s/%s pool %d: p50 %.2f ms, p99 %.2f ms; want 0 < p50 <= p99", row.Mode, row.Engine, row.Pool, row.P50Ms, row.P99Ms)
	}
	if row.HealthzP99Ms == nil || row.HealthzFailed != 0 {
		t.Errorf("%s/%s pool %d: healthz p99 %v with %d failed probes; want answers only", row.Mode, row.Engine, row.Pool, row.HealthzP99Ms, row.HealthzFailed)
	}
	if row.Completed < row.Requests || row.Accepted < 1 {
		t.Errorf("%s/%s pool %d: server counted %d completed jobs and %d accepted connections for %d answered requests",
			row.Mode, row.Engine, row.Pool, row.Completed, row.Accepted, row.Requests)
	}
	// 1 ms of work costs about that much CPU: half of it or five times it
	// would mean the accounting is off, beyond what the machine's drift
	// (up to 2× between the calibration and the run) explains.
	if row.ServerCPUMsPerRequest < 0.5 || row.ServerCPUMsPerRequest > 5 {
		t.Errorf("%s/%s pool %d: server CPU %.2f ms per request for 1ms of work", row.Mode, row.Engine, row.Pool, row.ServerCPUMsPerRequest)
	}
}

func TestSweepWrk(t *testing.T) {
	if _, err := exec.LookPath("wrk"); errors.Is(err, exec.ErrNotFound) {
		t.Skip("wrk is not installed, so the wrk engine cannot be tested: apt-get install -y wrk (CI installs it)")
	}
	c := tinySweep()
	c.Pools = []int{2}
	c.Modes = []string{config.ModeOffload, config.ModeInline}
	c.Engines = []Engine{Builtin, Wrk}
	c.Warmup = 0
	res, err := Sweep(testbin.Context(t), c)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		mode   string
		engine Engine
	}{{config.ModeOffload, Builtin}, {config.ModeOffload, Wrk}, {config.ModeInline, Builtin}, {config.ModeInline, Wrk}}
	if len(res.Rows) != len(want) {
		t.Fatalf("got %d rows, want %d", len(res.Rows), len(want))
	}
	for i, w := range want {
		row := res.Rows[i]
		if row.Mode != w.mode || row.Engine != w.engine {
			t.Errorf("row %d is %s/%s, want %s/%s", i, row.Mode, row.Engine, w.mode, w.engine)
		}
		checkRow(t, row)
		if row.Engine == Wrk && (row.WrkOutput == "" || row.P999Ms < row.P99Ms || row.GeneratorCPUCores <= 0) {
			t.Errorf("wrk row %d: output %q, p99.9 %v, generator cores %.3f; want wrk's output, p99.9 >= p99, its CPU",
				i, row.WrkOutput, row.P999Ms, row.GeneratorCPUCores)
		}
	}
	cmp := res.Comparison()
	if strings.Count(cmp, "\n") != 4 || !strings.Contains(cmp, "| inline | - |") {
		t.Errorf("comparison table:\n%s\nwant a header, a rule and 2 rows", cmp)
	}
}
