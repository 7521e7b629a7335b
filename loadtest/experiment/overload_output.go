package experiment

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"offload/loadtest/chart"
)

// Files written by OverloadResult.WriteFiles.
const (
	OverloadJSON         = "overload.json"
	OverloadTable        = "overload-table.md"
	OverloadLatencyChart = "overload-latency.png"
	OverloadStateChart   = "overload-goodput.png"
)

// WriteFiles writes overload.json (everything, timelines included), the
// table and the two charts into dir.
func (r *OverloadResult) WriteFiles(dir string) error {
	if err := WriteFiles(dir, OverloadJSON, r, map[string]string{OverloadTable: r.Markdown()}); err != nil {
		return err
	}
	title := fmt.Sprintf("(C %.0f/s, W %.2f ms, -work %v, %d CPUs)", r.Baseline.Capacity, r.Baseline.W, r.Work, r.Machine.CPUs)
	if err := chart.Timeline(filepath.Join(dir, OverloadLatencyChart), "Overload phases: latency "+title, r.latencyPanels()); err != nil {
		return fmt.Errorf("overload latency chart: %w", err)
	}
	if err := chart.Timeline(filepath.Join(dir, OverloadStateChart), "Overload phases: goodput and state "+title,
		r.statePanels()); err != nil {
		return fmt.Errorf("overload state chart: %w", err)
	}
	return nil
}

// Markdown is the table of every phase for every policy, with the phases'
// schedule and the baseline.
func (r *OverloadResult) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Overload experiment\n\n-work %v, capacity C %.0f/s, W %.2f ms, %d CPUs; "+
		"%s, started %s, took %.0f s.\n\n", r.Work, r.Baseline.Capacity, r.Baseline.W, r.Machine.CPUs,
		r.Machine, r.Started.UTC().Format(time.RFC3339), r.Took)
	fmt.Fprintf(&b, "Baseline, measured first on a static server: C = %.0f req/s and W = %.2f ms at -work %v; "+
		"%.0f req/s and %.2f ms at %v (the doubled phase is measured against these).\n\n",
		r.Baseline.Capacity, r.Baseline.W, r.Work, r.Baseline.CapacityDoubled, r.Baseline.WDoubled, 2*r.Work)
	b.WriteString("Phases run back to back, open loop; each is measured after its first second. ")
	b.WriteString("Goodput is 200s per second over C; 200 p99 also as a multiple of W. ")
	b.WriteString("`overloaded` and `unready` are the shares of quarter-second samples in which the server said so.\n\n")
	b.WriteString(r.Table())
	var healthz []string
	for _, run := range r.Runs {
		healthz = append(healthz, fmt.Sprintf("%s %.2f ms (%d probes)", run.Policy.Name, run.HealthzP99, run.HealthzN))
	}
	fmt.Fprintf(&b, "\n/healthz p99 over the whole run: %s.\n", strings.Join(healthz, ", "))
	b.WriteString("\nCPU in each phase's measured part: cores used by the server / the load generator / the rest of the machine, " +
		"and the server's ms per completed job in the jobs + outside them:\n\n| phase |")
	for _, run := range r.Runs {
		b.WriteString(" " + run.Policy.Name + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("--:|", len(r.Runs)) + "\n")
	for i, ph := range r.Phases {
		b.WriteString("| " + ph.Name + " |")
		for _, run := range r.Runs {
			p := run.Phases[i]
			fmt.Fprintf(&b, " %.2f / %.2f / %.2f; %.2f + %.2f |", p.ServerCores, p.GeneratorCores, p.OtherCores, p.JobCPUMs, p.OutsideCPUMs)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Table is the markdown table of every phase for every policy.
func (r *OverloadResult) Table() string {
	var b strings.Builder
	b.WriteString("| phase | policy | offered/s | goodput (×C) | refused | 200 p50 ms | 200 p99 ms (×W) | 200 p99.9 ms | 503 p99 ms | /healthz p99 ms | overloaded | unready | notes |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for i, ph := range r.Phases {
		for _, run := range r.Runs {
			p := run.Phases[i]
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f (%.2f) | %.1f%% | %.1f | %.1f (%.1f) | %.1f | %s | %.2f | %.0f%% | %.0f%% | %s |\n",
				ph.Name, run.Policy.Name, p.Offered, p.Goodput, p.GoodputRatio, 100*p.Refused,
				p.OK.P50, p.OK.P99, p.OK.P99/p.W, p.OK.P999, busyText(p), p.HealthzP99,
				100*p.OverloadedShare, 100*p.UnreadyShare, notes(p))
		}
	}
	return b.String()
}

func busyText(p PhaseResult) string {
	if p.Refused == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", p.Busy.P99)
}

func notes(p PhaseResult) string {
	var n []string
	if u := p.Urgent; u != nil {
		n = append(n, fmt.Sprintf("urgent: %.1f%% of %d got 200, p99 %.1f ms (%.1f W)", 100*u.OKShare, u.Sent, u.P99, u.P99/p.W))
	}
	if p.BudgetMs > 0 {
		n = append(n, fmt.Sprintf("budget %.1f ms: %d 200s arrived late, %.0f left the server late", p.BudgetMs, p.LateOK, p.ServerLate))
	}
	if p.Failed > 0 {
		n = append(n, fmt.Sprintf("%d failed", p.Failed))
	}
	if p.HealthzFailed > 0 {
		n = append(n, fmt.Sprintf("%d health checks failed", p.HealthzFailed))
	}
	return strings.Join(n, "; ")
}

// latencyPanels is a panel per policy: 200 p50 and p99, 503 p99.
func (r *OverloadResult) latencyPanels() []chart.TimelinePanel {
	var panels []chart.TimelinePanel
	for _, run := range r.Runs {
		lines := []chart.Line{
			bucketLine("200 p50", run.Timeline, func(b Bucket) *float64 { return b.P50 }),
			bucketLine("200 p99", run.Timeline, func(b Bucket) *float64 { return b.P99 }),
			bucketLine("503 p99", run.Timeline, func(b Bucket) *float64 { return b.BusyP99 }),
		}
		panels = append(panels, chart.TimelinePanel{Title: run.Policy.Name, YLabel: "latency (ms)", Lines: nonEmpty(lines)})
	}
	return panels
}

// statePanels compares the policies: goodput against the offered rate,
// the queue and the overload state.
func (r *OverloadResult) statePanels() []chart.TimelinePanel {
	good := []chart.Line{bucketLine("offered", r.Runs[0].Timeline, func(b Bucket) *float64 { return &b.Offered })}
	var queued, over []chart.Line
	for _, run := range r.Runs {
		good = append(good, bucketLine(run.Policy.Name, run.Timeline, func(b Bucket) *float64 { return &b.Goodput }))
		queued = append(queued, bucketLine(run.Policy.Name, run.Timeline, func(b Bucket) *float64 { return b.Queued }))
		over = append(over, bucketLine(run.Policy.Name, run.Timeline, func(b Bucket) *float64 { return b.Overloaded }))
	}
	return []chart.TimelinePanel{
		{Title: "Goodput: 200s by scheduled time", YLabel: "requests/s", Lines: nonEmpty(good)},
		{Title: "Jobs waiting in the queue (server's gauge)", YLabel: "jobs", Lines: nonEmpty(queued)},
		{Title: "Overloaded (1) or not (0), as the server reports it", YLabel: "state", Lines: nonEmpty(over)},
	}
}

// bucketLine draws the value v picks from each bucket that has one.
func bucketLine(label string, tl []Bucket, v func(Bucket) *float64) chart.Line {
	l := chart.Line{Label: label}
	for _, b := range tl {
		if x := v(b); x != nil {
			l.Points = append(l.Points, chart.Point{T: time.Duration(b.T * float64(time.Second)), V: *x})
		}
	}
	return l
}

func nonEmpty(lines []chart.Line) []chart.Line {
	out := lines[:0]
	for _, l := range lines {
		if len(l.Points) > 0 {
			out = append(out, l)
		}
	}
	return out
}
