package experiment

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"offload/config"
	"offload/internal/testbin"
)

// tinyAcceptVsDone is two short steps per mode at rates the server handles
// easily with 2 ms of work.
func tinyAcceptVsDone() AcceptVsDoneConfig {
	c := DefaultAcceptVsDoneConfig()
	c.Server = serverBin
	c.Settings.Work = 2 * time.Millisecond
	c.Rates = []float64{40, 80}
	c.Step = time.Second
	c.ScrapeInterval = 250 * time.Millisecond
	c.Timeout = 3 * time.Second
	c.ProbeRate = 10
	c.ProbeTimeout = 2 * time.Second
	return c
}

func TestAcceptVsDoneTiny(t *testing.T) {
	c := tinyAcceptVsDone()
	var progress strings.Builder
	c.Progress = &progress
	res, err := AcceptVsDone(testbin.Context(t), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 || res.Runs[0].Mode != config.ModeOffload || res.Runs[1].Mode != config.ModeInline {
		t.Fatalf("got %d runs, want offload then inline", len(res.Runs))
	}
	if res.Runs[0].Procs != 2 || res.Runs[0].Pool != 1 || res.Runs[1].Procs != 1 || res.Runs[1].Pool != 0 {
		t.Errorf("runs used GOMAXPROCS/pool %d/%d and %d/%d, want 2/1 and 1/0",
			res.Runs[0].Procs, res.Runs[0].Pool, res.Runs[1].Procs, res.Runs[1].Pool)
	}
	for _, run := range res.Runs {
		for _, name := range []string{"accepted/s", "closed/s", "completed/s", "rejected/s", "queued", "running", "connections", "backlog", "server cpu", "generator cpu", "other cpu"} {
			if len(run.Series[name]) < 4 {
				t.Errorf("%s: series %q has %d points, want one per 250ms over 2s", run.Mode, name, len(run.Series[name]))
			}
		}
		if run.Outcomes.Status[200] < 80 || run.Outcomes.Errors() != 0 || run.Outcomes.Missed != 0 {
			t.Errorf("%s: outcomes %+v, want about 120 answers and no errors", run.Mode, run.Outcomes)
		}
		// Below capacity the service port answers its /metrics too, one
		// scrape every 250 ms of the 2 s ramp.
		if run.Scrapes < 7 || run.Scrapes > 9 || run.ScrapeFailures != 0 {
			t.Errorf("%s: %d scrapes, %d failed; want 8 and none", run.Mode, run.Scrapes, run.ScrapeFailures)
		}
		if len(run.Steps) != 2 {
			t.Fatalf("%s: %d steps, want 2", run.Mode, len(run.Steps))
		}
		for k, st := range run.Steps {
			// Below capacity, everything offered is accepted and completed;
			// accepted also counts the probe and the scrapes.
			if math.Abs(st.Completed-st.Offered) > st.Offered/3 || st.Accepted < st.Completed {
				t.Errorf("%s step %d: offered %.0f/s, accepted %.1f/s, completed %.1f/s", run.Mode, k, st.Offered, st.Accepted, st.Completed)
			}
			if st.HealthzP99Ms == nil || st.HealthzFailed != 0 {
				t.Errorf("%s step %d: healthz p99 %v, %d failed", run.Mode, k, st.HealthzP99Ms, st.HealthzFailed)
			}
		}
	}
	if lines := strings.Count(progress.String(), "\n"); lines != 2 || !strings.Contains(progress.String(), "run 2 of 2 (rising rate, mode=inline GOMAXPROCS=1)") {
		t.Errorf("progress:\n%s", progress.String())
	}

	dir := t.TempDir()
	if err := res.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{AcceptVsDoneJSON, AcceptVsDoneSeries, AcceptVsDoneSteps, AcceptVsDoneTable, AcceptVsDoneChart} {
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Size() == 0 {
			t.Errorf("%s: %v (want a non-empty file)", name, err)
		}
	}
	var back AcceptVsDoneResult
	data, _ := os.ReadFile(filepath.Join(dir, AcceptVsDoneJSON))
	if err := json.Unmarshal(data, &back); err != nil || len(back.Runs) != 2 || len(back.Runs[0].Series["accepted/s"]) == 0 {
		t.Errorf("results.json does not round-trip: %v", err)
	}
}

func TestAcceptVsDoneMeasuresCapacity(t *testing.T) {
	c := tinyAcceptVsDone()
	c.Modes = []string{config.ModeOffload}
	c.Rates = nil
	c.RateFactors = []float64{0.25}
	c.CapacityTime = 600 * time.Millisecond
	c.ProbeRate = 0
	res, err := AcceptVsDone(testbin.Context(t), c)
	if err != nil {
		t.Fatal(err)
	}
	// One worker doing 2 ms jobs serves a few hundred requests a second.
	capacity := res.Capacity[config.ModeOffload]
	if capacity < 50 || capacity > 1000 {
		t.Fatalf("capacity %.0f req/s, want a few hundred", capacity)
	}
	if len(res.Rates) != 1 || res.Rates[0] != math.Round(capacity/4) {
		t.Errorf("rates %v, want [capacity/4 = %.0f]", res.Rates, capacity/4)
	}
	if st := res.Runs[0].Steps[0]; st.HealthzP99Ms != nil {
		t.Errorf("probe disabled, yet healthz p99 %v", *st.HealthzP99Ms)
	}
}

func TestStepMeans(t *testing.T) {
	// Points every second; the one at t=1 covers (0, 1], and so on.
	pts := []Point{{At: 1, Value: 10}, {At: 2, Value: 20}, {At: 3, Value: 30}, {At: 4, Value: 100}, {At: 5, Value: 200}}
	if got := meanRate(pts, 0, 3, time.Second); got != 20 {
		t.Errorf("meanRate over [0,3] = %v, want the mean of the first three, 20", got)
	}
	if got := meanRate(pts, 3, 5, time.Second); got != 150 {
		t.Errorf("meanRate over [3,5] = %v, want 150", got)
	}
	if got := meanRate(nil, 0, 5, time.Second); got != 0 {
		t.Errorf("meanRate of nothing = %v", got)
	}
	if got := maxValue(pts, 1.5, 3.5); got != 30 {
		t.Errorf("maxValue = %v, want 30", got)
	}
}

func TestAcceptVsDoneValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*AcceptVsDoneConfig)
		want   string
	}{
		{"no modes", func(c *AcceptVsDoneConfig) { c.Modes = nil }, "no modes"},
		{"unknown mode", func(c *AcceptVsDoneConfig) { c.Modes = []string{"turbo"} }, `unknown mode "turbo"`},
		{"zero rate", func(c *AcceptVsDoneConfig) { c.Rates = []float64{100, 0} }, "rate must be > 0"},
		{"no factors", func(c *AcceptVsDoneConfig) { c.RateFactors = nil }, "give rates, or rate factors"},
		{"zero step", func(c *AcceptVsDoneConfig) { c.Step = 0 }, "step must be > 0"},
		{"bad settings", func(c *AcceptVsDoneConfig) { c.Settings.Queue = -1 }, "server settings: -queue -1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultAcceptVsDoneConfig()
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	c := DefaultAcceptVsDoneConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
