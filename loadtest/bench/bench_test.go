package bench

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"offload/internal/testbin"
	"offload/loadtest/observe"
	"offload/metrics"
)

// The real server and the bare baseline, built once from this module.
var serverBin, plainBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m, func(bins []string) { serverBin, plainBin = bins[0], bins[1] }, "./cmd/server", "./internal/plainserver"))
}

// TestBenchQuick runs every row at a small scale: the numbers are too
// short-lived to judge the targets, but every row must measure something
// plausible and the report must carry it.
func TestBenchQuick(t *testing.T) {
	var progress bytes.Buffer
	rep, err := Run(t.Context(), Config{Server: serverBin, Plain: plainBin, Scale: 0.05, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 15 {
		t.Fatalf("%d rows, want 15", len(rep.Rows))
	}
	for _, row := range rep.Rows {
		if row.Err != "" {
			t.Errorf("row %d %s: %s", row.ID, row.Name, row.Err)
		}
		if len(row.Values) == 0 || row.Measured == "" {
			t.Errorf("row %d %s measured nothing", row.ID, row.Name)
		}
	}
	if rep.Capacity <= 0 || rep.JobMs <= 0 {
		t.Errorf("capacity %v req/s, job time %v ms", rep.Capacity, rep.JobMs)
	}
	// Row 1 divides two CPU times of the same server over the same
	// scrapes: the jobs' share cannot exceed 1 beyond the 10 ms ticks of
	// process_cpu_seconds_total, and 4 ms jobs leave little else to do.
	for key, low := range map[string]float64{"efficiency_4ms": 0.6, "efficiency_100µs": 0.3} {
		if eff := rep.Rows[0].Values[key]; eff <= low || eff > 1.05 {
			t.Errorf("%s %.3f is not plausible: want (%.1f, 1.05]", key, eff, low)
		}
	}
	// One calibration of the work for every server of the run.
	if rep.WorkIterationNs <= 0 || rep.Overload == nil || rep.Overload.Baseline.IterationNs != rep.WorkIterationNs {
		t.Errorf("work calibration: report %v ns, overload run %+v", rep.WorkIterationNs, rep.Overload)
	}
	if len(rep.PoolSweep) != 2*rep.Procs {
		t.Errorf("pool sweep has %d points, want 1..%d", len(rep.PoolSweep), 2*rep.Procs)
	}
	md := rep.Markdown()
	for _, want := range []string{"| 1 | **Work efficiency**", "| 7 | **Latency at half capacity**", "| 15 | **Dispatch cost**", "Pool sweep", "| 1 | "} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	dir := t.TempDir()
	if err := rep.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.md", "report.json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if !strings.Contains(progress.String(), "row 7") {
		t.Errorf("no progress for row 7:\n%s", progress.String())
	}
}

// TestSoakQuick soaks for a few seconds with bursts of abuse: every
// request is answered and the server's resources return to where they were.
func TestSoakQuick(t *testing.T) {
	rep, err := Soak(t.Context(), SoakConfig{
		Server: serverBin, Duration: 4 * time.Second, BurstEvery: time.Second, BurstSize: 20, SampleEvery: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass {
		t.Fatalf("soak failed: %v", rep.Checks)
	}
	if rep.Bursts == 0 || rep.Requests == 0 || len(rep.Samples) < 4 {
		t.Fatalf("soak did too little: %d bursts, %d requests, %d samples", rep.Bursts, rep.Requests, len(rep.Samples))
	}
}

func TestSoakJudge(t *testing.T) {
	samples := func(rss ...float64) []Sample {
		var s []Sample
		for i, r := range rss {
			s = append(s, Sample{At: float64(10 * i), RSSMB: r, Goroutines: 60, FDs: 60, Active: 50})
		}
		return s
	}
	idle := Sample{Goroutines: 10, FDs: 13, Active: 1}
	cases := []struct {
		name string
		rss  []float64
		pass bool
	}{
		// Warm-up growth (first 120 s of 600) and a burst in the last
		// sample are not a leak.
		{"flat after warm-up", []float64{12, 16, 19, 21, 22, 22, 23, 22, 22, 23, 22, 22, 23, 22, 22, 23, 22, 22, 23, 22, 22, 23, 22, 22, 23, 22, 22, 23, 22, 22, 26}, true},
		{"steady growth", []float64{12, 16, 19, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48}, false},
	}
	for _, c := range cases {
		r := &SoakReport{DurationS: 600, Samples: samples(c.rss...), IdleBefore: idle, IdleAfter: idle}
		r.judge()
		if r.Pass != c.pass {
			t.Errorf("%s: pass %v, want %v: %v", c.name, r.Pass, c.pass, r.Checks)
		}
	}
	r := &SoakReport{DurationS: 600, Samples: samples(20, 20, 20, 20, 20, 20), IdleBefore: idle, IdleAfter: Sample{Goroutines: 30, FDs: 13, Active: 1}}
	r.judge()
	if r.Pass {
		t.Errorf("20 goroutines left behind passed: %v", r.Checks)
	}
}

// TestSampled reads row 5's samples: the slowest whole interval after the
// warmup but before the last, and the memory early on and at the end.
func TestSampled(t *testing.T) {
	start := time.Now()
	var snaps []observe.Snapshot
	for i, done := range []float64{0, 25, 75, 100, 150} {
		snaps = append(snaps, observe.Snapshot{
			At: start.Add(time.Duration(i) * 250 * time.Millisecond), RSS: int64(1000 * (i + 1)),
			Metrics: map[string]float64{metrics.JobsCompleted: done},
		})
	}
	// The first interval ends before the warmup does, and the last one
	// (150-100 in a quarter second, 200/s) is left out.
	slowest, early, end := sampled(snaps, 200*time.Millisecond, 500*time.Millisecond)
	if math.Abs(slowest-100) > 1e-9 || early != 3000 || end != 5000 {
		t.Errorf("sampled = %v completions/s, RSS %d early and %d at the end; want 100, 3000, 5000", slowest, early, end)
	}
	if slowest, _, _ := sampled(snaps[:1], 0, 0); !math.IsNaN(slowest) {
		t.Errorf("one sample: slowest %v, want NaN", slowest)
	}
}
