package experiment

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"offload/config"
	"offload/loadtest/chart"
)

// Files written by AcceptVsDoneResult.WriteFiles.
const (
	AcceptVsDoneJSON   = "results.json"
	AcceptVsDoneSeries = "series.csv"
	AcceptVsDoneSteps  = "steps.csv"
	AcceptVsDoneTable  = "table.md"
	AcceptVsDoneChart  = "accept-vs-done.png"
)

// WriteFiles writes results.json, series.csv (every scraped point),
// steps.csv and table.md (the per-step summary) and the chart
// accept-vs-done.png into dir.
func (r *AcceptVsDoneResult) WriteFiles(dir string) error {
	series := [][]string{{"mode", "series", "t_s", "value"}}
	for _, run := range r.Runs {
		for _, name := range slices.Sorted(maps.Keys(run.Series)) {
			for _, p := range run.Series[name] {
				series = append(series, []string{run.Mode, name, num(p.At, 3), num(p.Value, 2)})
			}
		}
	}
	steps := [][]string{{
		"mode", "gomaxprocs", "pool", "start_s", "end_s", "offered_per_s", "accepted_per_s", "closed_per_s",
		"completed_per_s", "rejected_per_s", "max_queued", "max_running", "max_connections", "max_backlog",
		"server_cpu_cores", "generator_cpu_cores", "other_cpu_cores", "healthz_p99_ms", "healthz_failed",
	}}
	for _, run := range r.Runs {
		for _, st := range run.Steps {
			steps = append(steps, []string{
				run.Mode, itoa(int64(run.Procs)), itoa(int64(run.Pool)), num(st.StartS, 1), num(st.EndS, 1),
				num(st.Offered, 0), num(st.Accepted, 1), num(st.Closed, 1), num(st.Completed, 1), num(st.Rejected, 1),
				num(st.MaxQueued, 0), num(st.MaxRunning, 0), num(st.MaxConns, 0), num(st.MaxBacklog, 0),
				num(st.ServerCPU, 2), num(st.GeneratorCPU, 2), num(st.OtherCPU, 2),
				optNum(st.HealthzP99Ms, 2), itoa(st.HealthzFailed),
			})
		}
	}
	err := WriteFiles(dir, AcceptVsDoneJSON, r, map[string]string{
		AcceptVsDoneSeries: csvText(series),
		AcceptVsDoneSteps:  csvText(steps),
		AcceptVsDoneTable:  r.Markdown(),
	})
	if panels := r.Panels(); err == nil && len(panels) > 0 {
		if err := chart.Timeline(filepath.Join(dir, AcceptVsDoneChart), acceptVsDoneTitle, panels); err != nil {
			return fmt.Errorf("accept-vs-done chart: %w", err)
		}
	}
	return err
}

// Markdown returns table.md: the settings, the machine, each mode's step
// summary and its overall load result.
func (r *AcceptVsDoneResult) Markdown() string {
	var b strings.Builder
	s := r.Config
	fmt.Fprintf(&b, "# Accepted vs done under a rising rate, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Server: `%s`, work %v per /data request%s\n", s.Server, s.Settings.Work, argsText(s.Settings.Args()))
	fmt.Fprintf(&b, "- Load: open loop, one request per connection, %v per rate step, at most %d in flight, request timeout %v\n",
		s.Step, s.MaxInflight, s.Timeout)
	if len(r.Capacity) > 0 {
		var caps []string
		for _, run := range r.Runs {
			if c, ok := r.Capacity[run.Mode]; ok {
				caps = append(caps, fmt.Sprintf("%s %.0f req/s", run.Mode, c))
			}
		}
		fmt.Fprintf(&b, "- Rates: %s × the larger measured capacity (closed loop, one request per connection: %s)\n",
			floats(s.RateFactors), strings.Join(caps, ", "))
	}
	if s.ProbeRate > 0 {
		fmt.Fprintf(&b, "- Probe: /healthz at %g req/s on a new connection each, one probe run per step\n", s.ProbeRate)
	}
	fmt.Fprintf(&b, "- Series: the server's own stats line every %v (-stats-interval); per-second rates are means over each step, gauges maxima. accepted/s counts every connection, so it includes the /healthz probes and the /metrics scrapes (one per %v) on top of the offered /data rate\n", s.ScrapeInterval, s.ScrapeInterval)
	fmt.Fprintf(&b, "- Machine: %s\n\n", r.Machine)

	b.WriteString("| mode | offered /data/s | accepted/s | closed/s | completed/s | rejected/s | max backlog | max open conns | max queued | max running | healthz p99 ms | server cores | generator cores | other cores |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, run := range r.Runs {
		for _, st := range run.Steps {
			fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %.2f | %.2f | %.2f |\n",
				modeText(run), st.Offered, st.Accepted, st.Closed, st.Completed, st.Rejected,
				st.MaxBacklog, st.MaxConns, st.MaxQueued, st.MaxRunning, optMs(st.HealthzP99Ms), st.ServerCPU, st.GeneratorCPU, st.OtherCPU)
		}
	}
	b.WriteString("\nThe generator's view of each whole run (all steps):\n\n")
	b.WriteString("| mode | answered | req/s | 200s | p50 ms of 200s | p99 ms of 200s | 503s | p99 ms of 503s | timeouts | other errors | missed sends | /metrics scrapes failed |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, run := range r.Runs {
		o := run.Outcomes
		ok, busy := run.LatencyByStatus[200], run.LatencyByStatus[503]
		fmt.Fprintf(&b, "| %s | %d | %.0f | %d | %s | %s | %d | %s | %d | %d | %d | %d of %d |\n",
			modeText(run), run.Requests, run.Throughput, o.Status[200], ms(ok.P50), ms(ok.P99),
			o.Status[503], statusMs(o.Status[503], busy.P99), o.Timeouts, o.Connect+o.Resets+o.Other, o.Missed,
			run.ScrapeFailures, run.Scrapes+run.ScrapeFailures)
	}
	b.WriteString("\nMissed sends were due while the generator already had the maximum in flight:\n" +
		"requests waiting somewhere, most likely in the server's listen backlog.\n")
	return b.String()
}

// Panels returns the chart's panels: for each mode the offered rate
// against the server's rates; then where connections wait, where jobs
// wait, and the CPU.
func (r *AcceptVsDoneResult) Panels() []chart.TimelinePanel {
	var panels []chart.TimelinePanel
	conns := chart.TimelinePanel{Title: "Connections waiting: in the listen backlog (not accepted) and open in the server", YLabel: "connections"}
	jobs := chart.TimelinePanel{Title: "Jobs: queued for a worker, and running (holding or waiting for a CPU)", YLabel: "jobs"}
	cpu := chart.TimelinePanel{Title: "CPU used by the server, the load generator and the rest of the machine", YLabel: "cores"}
	for _, run := range r.Runs {
		p := chart.TimelinePanel{Title: modeText(run), YLabel: "per second"}
		if offered := r.offeredLine(run); len(offered.Points) > 0 {
			p.Lines = append(p.Lines, offered)
		}
		for _, name := range []string{"accepted/s", "closed/s", "completed/s", "rejected/s"} {
			if pts := run.Series[name]; len(pts) > 0 {
				p.Lines = append(p.Lines, chart.Line{Label: name, Points: timelinePoints(pts)})
			}
		}
		if len(p.Lines) > 0 {
			panels = append(panels, p)
		}
		for _, l := range []struct {
			panel         *chart.TimelinePanel
			series, label string
		}{
			{&conns, "backlog", "backlog"}, {&conns, "connections", "open"},
			{&jobs, "queued", "queued"}, {&jobs, "running", "running"},
			{&cpu, "server cpu", "server"}, {&cpu, "generator cpu", "generator"}, {&cpu, "other cpu", "other"},
		} {
			// Inline mode has no worker queue.
			if pts := run.Series[l.series]; len(pts) > 0 && (l.series != "queued" || run.Mode == config.ModeOffload) {
				l.panel.Lines = append(l.panel.Lines, chart.Line{Label: run.Mode + " " + l.label, Points: timelinePoints(pts)})
			}
		}
	}
	for _, p := range []chart.TimelinePanel{conns, jobs, cpu} {
		if len(p.Lines) > 0 {
			panels = append(panels, p)
		}
	}
	return panels
}

// offeredLine is the offered rate as a step function over the ramp, and
// zero after it while the last requests drain.
func (r *AcceptVsDoneResult) offeredLine(run ModeRun) chart.Line {
	line := chart.Line{Label: "offered /data/s"}
	if len(run.Steps) == 0 {
		return line
	}
	const edge = time.Millisecond
	for _, st := range run.Steps {
		from, to := time.Duration(st.StartS*float64(time.Second)), time.Duration(st.EndS*float64(time.Second))
		line.Points = append(line.Points, chart.Point{T: from, V: st.Offered}, chart.Point{T: to - edge, V: st.Offered})
	}
	end := time.Duration(run.Steps[len(run.Steps)-1].EndS * float64(time.Second))
	line.Points = append(line.Points, chart.Point{T: end, V: 0})
	var last time.Duration
	for _, pts := range run.Series {
		if len(pts) > 0 {
			last = max(last, time.Duration(pts[len(pts)-1].At*float64(time.Second)))
		}
	}
	if last > end {
		line.Points = append(line.Points, chart.Point{T: last, V: 0})
	}
	return line
}

const acceptVsDoneTitle = "Connections accepted vs requests done, one request per connection, rising rate"

func timelinePoints(pts []Point) []chart.Point {
	out := make([]chart.Point, 0, len(pts))
	for _, p := range pts {
		t := time.Duration(p.At * float64(time.Second))
		if len(out) > 0 && t <= out[len(out)-1].T {
			continue // a duplicate time cannot be drawn; keep the first
		}
		out = append(out, chart.Point{T: t, V: p.Value})
	}
	return out
}

func modeText(run ModeRun) string {
	if run.Mode == config.ModeInline {
		return fmt.Sprintf("inline, GOMAXPROCS=%d", run.Procs)
	}
	return fmt.Sprintf("offload, GOMAXPROCS=%d, pool=%d", run.Procs, run.Pool)
}

// statusMs is a latency, "-" if there were no responses.
func statusMs(n int64, v float64) string {
	if n == 0 {
		return "-"
	}
	return ms(v)
}

func floats(fs []float64) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = fmt.Sprintf("%g", f)
	}
	return strings.Join(s, ", ")
}
