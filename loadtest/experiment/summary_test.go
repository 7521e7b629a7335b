package experiment

import (
	"strings"
	"testing"
	"time"

	"offload/config"
)

func TestSummarize(t *testing.T) {
	rows := []Row{
		{Mode: config.ModeOffload, Engine: Builtin, Pool: 2, Run: 1, Throughput: 300, P99Ms: 10, P999Ms: 12, Status503: 1},
		{Mode: config.ModeOffload, Engine: Wrk, Pool: 2, Run: 1, Throughput: 290, P99Ms: 11, P999Ms: 14},
		{Mode: config.ModeOffload, Engine: Builtin, Pool: 2, Run: 2, Throughput: 200, P99Ms: 30, P999Ms: 40, Errors: 2},
		{Mode: config.ModeOffload, Engine: Wrk, Pool: 2, Run: 2, Throughput: 310, P99Ms: 9, P999Ms: 12},
		{Mode: config.ModeOffload, Engine: Builtin, Pool: 2, Run: 3, Throughput: 250, P99Ms: 20, P999Ms: 25},
		{Mode: config.ModeOffload, Engine: Wrk, Pool: 2, Run: 3, Throughput: 280, P99Ms: 12, P999Ms: 13},
	}
	got := Summarize(rows)
	if len(got) != 2 || got[0].Engine != Builtin || got[1].Engine != Wrk {
		t.Fatalf("Summarize gave %d rows, want builtin then wrk", len(got))
	}
	b := got[0]
	if b.Runs != 3 || b.Run != 0 || b.Throughput != 250 || b.ThroughputMin != 200 || b.ThroughputMax != 300 {
		t.Errorf("builtin req/s %v (%v–%v) over %d runs, want median 250 (200–300) over 3", b.Throughput, b.ThroughputMin, b.ThroughputMax, b.Runs)
	}
	if b.P99Ms != 20 || b.P999Ms != 25 || b.Status503 != 1 || b.Errors != 2 {
		t.Errorf("builtin p99 %v, p99.9 %v, 503s %d, errors %d; want medians 20 and 25, sums 1 and 2", b.P99Ms, b.P999Ms, b.Status503, b.Errors)
	}
	if w := got[1]; w.P999Ms != 13 || w.Throughput != 290 {
		t.Errorf("wrk: p99.9 %v, req/s %v; want medians 13 and 290", w.P999Ms, w.Throughput)
	}

	res := &SweepResult{Rows: rows, Summary: got}
	cmp := res.Comparison()
	if !strings.Contains(cmp, "| offload | 2 | 250 (200–300) | 290 (280–310) | 1.16 | 0.97, 1.55, 1.12 |") {
		t.Errorf("comparison:\n%s", cmp)
	}
	table := res.Table()
	if !strings.Contains(table, "| offload | builtin | 2 | 250 (200–300) | 0.00 | 20.0 | 25.0 |") {
		t.Errorf("table:\n%s", table)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1}, 2}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestChartPointsDrawInlineFlat(t *testing.T) {
	res := &SweepResult{Summary: []Row{
		{Mode: config.ModeOffload, Engine: Builtin, Pool: 1, Throughput: 150, P99Ms: 200},
		{Mode: config.ModeOffload, Engine: Builtin, Pool: 4, Throughput: 300, P99Ms: 100},
		{Mode: config.ModeInline, Engine: Builtin, Throughput: 280, P99Ms: 300},
	}}
	pts := res.ChartPoints()
	var inline []int
	for _, p := range pts {
		if p.Series == "inline (no pool)" {
			if p.Throughput != 280 || p.P99 != 300*time.Millisecond {
				t.Errorf("inline point %+v, want the inline measurement", p)
			}
			inline = append(inline, p.Pool)
		}
	}
	if len(pts) != 4 || len(inline) != 2 || inline[0] != 1 || inline[1] != 4 {
		t.Errorf("points %+v: want inline drawn at every offload pool size (1 and 4)", pts)
	}

	both := &SweepResult{Summary: []Row{
		{Mode: config.ModeOffload, Engine: Builtin, Pool: 1, Throughput: 1},
		{Mode: config.ModeOffload, Engine: Wrk, Pool: 1, Throughput: 1},
	}}
	if pts := both.ChartPoints(); pts[0].Series != "offload, builtin" || pts[1].Series != "offload, wrk" {
		t.Errorf("with two engines the series are %q and %q, want the engine in the name", pts[0].Series, pts[1].Series)
	}
}

func TestSweepPlanRunsInlineOncePerRepeat(t *testing.T) {
	c := DefaultSweepConfig()
	c.Pools = []int{4, 1}
	c.Modes = []string{config.ModeInline, config.ModeOffload}
	c.Engines = []Engine{Builtin, Wrk}
	c.Repeat = 2
	var labels []string
	for _, r := range c.plan() {
		labels = append(labels, r.label())
	}
	want := []string{
		"mode=inline pool=- engine=builtin repeat=1/2", "mode=inline pool=- engine=wrk repeat=1/2",
		"mode=offload pool=1 engine=builtin repeat=1/2", "mode=offload pool=1 engine=wrk repeat=1/2",
		"mode=offload pool=4 engine=builtin repeat=1/2", "mode=offload pool=4 engine=wrk repeat=1/2",
		"mode=inline pool=- engine=builtin repeat=2/2", "mode=inline pool=- engine=wrk repeat=2/2",
		"mode=offload pool=1 engine=builtin repeat=2/2", "mode=offload pool=1 engine=wrk repeat=2/2",
		"mode=offload pool=4 engine=builtin repeat=2/2", "mode=offload pool=4 engine=wrk repeat=2/2",
	}
	if strings.Join(labels, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(labels, "\n"), strings.Join(want, "\n"))
	}
}

func TestSweepValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*SweepConfig)
		want   string
	}{
		{"procs", func(c *SweepConfig) { c.Procs = 0 }, "GOMAXPROCS (procs) must be >= 1"},
		{"duplicate pool", func(c *SweepConfig) { c.Pools = []int{1, 2, 1} }, "pool size 1 given twice"},
		{"zero pool", func(c *SweepConfig) { c.Pools = []int{0} }, "pool size must be >= 1"},
		{"unknown engine", func(c *SweepConfig) { c.Engines = []Engine{"ab"} }, `unknown engine "ab"`},
		{"wrk fractional duration", func(c *SweepConfig) { c.Engines = []Engine{Wrk}; c.Duration = 1500 * time.Millisecond }, "wrk takes whole seconds"},
		{"wrk threads", func(c *SweepConfig) { c.Engines = []Engine{Wrk}; c.WrkThreads = 3 }, "multiple of wrk threads (3)"},
		{"no wrk threads", func(c *SweepConfig) { c.Engines = []Engine{Wrk}; c.WrkThreads = 0 }, "wrk threads must be >= 1"},
		{"repeat", func(c *SweepConfig) { c.Repeat = 0 }, "repeat must be >= 1"},
		{"bad settings", func(c *SweepConfig) { c.Settings.Work = -time.Millisecond }, "server settings: -work -1ms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultSweepConfig()
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	c := DefaultSweepConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	c.Server = "/nonexistent/server"
	if err := c.Preflight(); err == nil || err.Error() != "/nonexistent/server not found: run make build first" {
		t.Errorf("Preflight() = %v", err)
	}
}
