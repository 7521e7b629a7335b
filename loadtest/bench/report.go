package bench

import (
	"fmt"
	"offload/loadtest/experiment"
	"strings"
)

// Markdown is the report as markdown.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s; servers at GOMAXPROCS=%d; run %s, took %.0f s.\n\n",
		r.Machine, r.Procs, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Took)
	fmt.Fprintf(&b, "Capacity (saturated /data, -work 4ms): %.0f req/s; a job's mean time on its worker at half capacity W = %.3f ms (row 7).\n\n", r.Capacity, r.JobMs)
	b.WriteString("| # | target | measured | result |\n|---|---|---|---|\n")
	for _, row := range r.Rows {
		measured := row.Measured
		if row.Err != "" {
			measured += " — error: " + row.Err
		}
		fmt.Fprintf(&b, "| %d | **%s**: %s | %s | %s |\n", row.ID, row.Name, cell(row.Target), cell(measured), passText(row.Pass))
	}
	if len(r.PoolSweep) > 0 {
		b.WriteString("\nPool sweep (row 4: /data open loop at 2× capacity, /healthz probed at 100/s):\n\n")
		b.WriteString("| pool | /healthz p99 ms | probes | /data goodput req/s | /data 200 p99 ms |\n|---|---|---|---|---|\n")
		for _, p := range r.PoolSweep {
			fmt.Fprintf(&b, "| %d | %.2f | %d | %.0f | %.1f |\n", p.Pool, p.HealthzP99Ms, p.HealthzN, p.Goodput, p.DataP99Ms)
		}
	}
	if r.Overload != nil {
		fmt.Fprintf(&b, "\nOverload phases (rows 8 to 14), back to back on one default server; C %.0f req/s and W %.2f ms measured first, in the same run:\n\n",
			r.Overload.Baseline.Capacity, r.Overload.Baseline.W)
		b.WriteString(r.Overload.Table())
	}
	var notes []string
	for _, row := range r.Rows {
		for _, n := range row.Notes {
			notes = append(notes, fmt.Sprintf("- row %d: %s", row.ID, n))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nNotes:\n\n" + strings.Join(notes, "\n") + "\n")
	}
	return b.String()
}

// cell keeps a table cell on one line.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

// Save writes report.md and report.json into dir.
func (r *Report) Save(dir string) error {
	return experiment.WriteFiles(dir, "report.json", r, map[string]string{"report.md": r.Markdown()})
}
