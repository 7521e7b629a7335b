package experiment

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"offload/config"
	"offload/loadtest/chart"
)

// NewResultsDir creates a fresh directory base/name-TIMESTAMP, with a
// suffix if a run in the same second took the name.
func NewResultsDir(base, name string) (string, error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("results directory: %w", err)
	}
	stem := filepath.Join(base, name+"-"+time.Now().Format("20060102-150405"))
	dir := stem
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			return "", fmt.Errorf("results directory: %w", err)
		}
		dir = fmt.Sprintf("%s-%d", stem, i)
	}
}

// Files written by SweepResult.WriteFiles.
const (
	SweepJSON       = "results.json"
	SweepCSV        = "results.csv"
	SweepSummaryCSV = "summary.csv"
	SweepTable      = "table.md"
	SweepChart      = "sweep.png"
)

// WriteFiles writes results.json, results.csv (every run), summary.csv
// (one row per configuration and engine), table.md and the chart sweep.png
// into dir.
func (r *SweepResult) WriteFiles(dir string) error {
	err := WriteFiles(dir, SweepJSON, r, map[string]string{
		SweepCSV:        rowsCSV(r.Rows),
		SweepSummaryCSV: rowsCSV(r.Summary),
		SweepTable:      r.Markdown(),
	})
	if err != nil || len(r.Summary) == 0 {
		return err
	}
	if err := chart.Sweep(filepath.Join(dir, SweepChart), r.chartTitle(), r.ChartPoints()); err != nil {
		return fmt.Errorf("sweep chart: %w", err)
	}
	return nil
}

// WriteFiles writes v as indented JSON to the file jsonName and each text
// to its file, all in dir: the one writer of every result of the kit.
func WriteFiles(dir, jsonName string, v any, texts map[string]string) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", jsonName, err)
	}
	files := map[string]string{jsonName: string(data) + "\n"}
	maps.Copy(files, texts)
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// csvText renders records as CSV.
func csvText(records [][]string) string {
	var b strings.Builder
	_ = csv.NewWriter(&b).WriteAll(records) // a strings.Builder does not fail
	return b.String()
}

// rowsCSV is rows as CSV: results.csv or summary.csv.
func rowsCSV(rows []Row) string {
	records := [][]string{{
		"mode", "engine", "pool", "run", "runs", "req_per_s", "req_per_s_min", "req_per_s_max", "p50_ms", "p99_ms", "p99_9_ms", "healthz_p99_ms", "healthz_failed",
		"status_503", "errors", "accepted", "completed", "rejected",
		"server_cpu_ms_per_request", "server_cpu_cores", "generator_cpu_cores", "other_cpu_cores", "requests", "elapsed_s",
	}}
	for _, row := range rows {
		records = append(records, []string{
			row.Mode, string(row.Engine), strconv.Itoa(row.Pool), strconv.Itoa(row.Run), strconv.Itoa(max(row.Runs, 1)),
			num(row.Throughput, 1), num(row.ThroughputMin, 1), num(row.ThroughputMax, 1),
			num(row.P50Ms, 3), num(row.P99Ms, 3), num(row.P999Ms, 3), optNum(row.HealthzP99Ms, 3), itoa(row.HealthzFailed),
			itoa(row.Status503), itoa(row.Errors), itoa(row.Accepted), itoa(row.Completed), itoa(row.Rejected),
			num(row.ServerCPUMsPerRequest, 3), num(row.ServerCPUCores, 3), num(row.GeneratorCPUCores, 3), num(row.OtherCPUCores, 3),
			itoa(row.Requests), num(row.ElapsedS, 3),
		})
	}
	return csvText(records)
}

// Markdown returns table.md: the settings, the machine, the table and, when
// both engines ran, their comparison.
func (r *SweepResult) Markdown() string {
	var b strings.Builder
	s := r.Config
	fmt.Fprintf(&b, "# Pool-size sweep, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Server: `%s`, GOMAXPROCS=%d, work %v per /data request%s\n", s.Server, s.Procs, s.Settings.Work, argsText(s.Settings.Args()))
	fmt.Fprintf(&b, "- Load: closed loop, %d connections, %s, %v measured after %v warmup, request timeout %v%s\n",
		s.Connections, connText(s.Close), s.Duration, s.Warmup, s.Timeout, wrkText(s))
	if s.Repeat > 1 {
		fmt.Fprintf(&b, "- The whole sweep run %d times over, engines back to back; medians shown\n", s.Repeat)
	}
	if s.ProbeRate > 0 {
		fmt.Fprintf(&b, "- Probe: /healthz at %g req/s on a new connection each, alongside the load\n", s.ProbeRate)
	}
	fmt.Fprintf(&b, "- Machine: %s\n\n", r.Machine)
	b.WriteString(r.Table())
	if c := r.Comparison(); c != "" {
		b.WriteString("\nwrk against the built-in generator, same settings, run back to back:\n\n")
		b.WriteString(c)
	}
	b.WriteString("\n" + sweepNotes)
	return b.String()
}

// sweepNotes explains the columns of the sweep table.
const sweepNotes = `req/s counts every /data response in the measured time. With repeated runs
each figure is the median over the runs (req/s is followed by its range),
and 503s and errors are summed. Latencies are in milliseconds. wrk's 503s
column counts every response with status >= 400. accepted and completed are the server's own
counters of accepted connections and completed jobs over warmup and
measurement, healthz probes included. CPU ms/req is the server's CPU time
per completed job; server and generator cores are CPU seconds per wall
second, and on a small machine they compete for the same cores. other cores
is what the rest of the machine took meanwhile (other processes, hypervisor
steal): well above zero, the run was disturbed.
`

// Table returns the summary rows as a markdown table. With repeated runs,
// req/s is the median followed by the range.
func (r *SweepResult) Table() string {
	var b strings.Builder
	b.WriteString("| mode | engine | pool | req/s | p50 ms | p99 ms | p99.9 ms | healthz p99 ms | 503s | errors | accepted | completed | CPU ms/req | server cores | generator cores | other cores |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, row := range r.Summary {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %d | %d | %.2f | %.2f | %.2f | %.2f |\n",
			row.Mode, row.Engine, poolText(row.Mode, row.Pool), rateText(row),
			ms(row.P50Ms), ms(row.P99Ms), ms(row.P999Ms), optMs(row.HealthzP99Ms),
			row.Status503, row.Errors, row.Accepted, row.Completed,
			row.ServerCPUMsPerRequest, row.ServerCPUCores, row.GeneratorCPUCores, row.OtherCPUCores)
	}
	return b.String()
}

// Comparison returns a markdown table of wrk against the built-in engine,
// "" without both: the ratio of their median rates and the ratio within
// each back-to-back pair, which the machine's drift affects least.
func (r *SweepResult) Comparison() string {
	type key struct {
		mode      string
		pool, run int
	}
	// The built-in engine's runs, and its summaries as run 0.
	builtin := map[key]Row{}
	for _, row := range slices.Concat(r.Rows, r.Summary) {
		if row.Engine == Builtin {
			builtin[key{row.Mode, row.Pool, row.Run}] = row
		}
	}
	var b strings.Builder
	for _, w := range r.Summary {
		bi, ok := builtin[key{w.Mode, w.Pool, 0}]
		if w.Engine != Wrk || !ok {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("| mode | pool | builtin req/s | wrk req/s | wrk/builtin | paired ratios | builtin p99 ms | wrk p99 ms | builtin generator cores | wrk generator cores |\n")
			b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		}
		var pairs []string
		for _, row := range r.Rows {
			if row.Engine != Wrk || row.Mode != w.Mode || row.Pool != w.Pool {
				continue
			}
			if pb, ok := builtin[key{row.Mode, row.Pool, row.Run}]; ok && pb.Throughput > 0 {
				pairs = append(pairs, fmt.Sprintf("%.2f", row.Throughput/pb.Throughput))
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f |\n",
			w.Mode, poolText(w.Mode, w.Pool), rateText(bi), rateText(w),
			ratioText(w.Throughput, bi.Throughput), strings.Join(pairs, ", "),
			ms(bi.P99Ms), ms(w.P99Ms), bi.GeneratorCPUCores, w.GeneratorCPUCores)
	}
	return b.String()
}

func ratioText(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// ChartPoints turns the summary into a line per mode (and engine, when
// there are several); inline mode, which has no pool, is a flat reference
// line across the offload runs' pool sizes.
func (r *SweepResult) ChartPoints() []chart.SweepPoint {
	engines := map[Engine]bool{}
	var pools []int
	rows := r.Summary
	for _, row := range rows {
		engines[row.Engine] = true
		if row.Mode == config.ModeOffload {
			pools = append(pools, row.Pool)
		}
	}
	slices.Sort(pools)
	pools = slices.Compact(pools)
	if len(pools) == 0 {
		pools = []int{0} // inline only: a single point at "no pool"
	}
	var pts []chart.SweepPoint
	for _, row := range rows {
		name, at := row.Mode, []int{row.Pool}
		if row.Mode == config.ModeInline {
			name, at = "inline (no pool)", pools
		}
		if len(engines) > 1 {
			name += ", " + string(row.Engine)
		}
		p99 := time.Duration(row.P99Ms * float64(time.Millisecond))
		for _, pool := range at {
			pts = append(pts, chart.SweepPoint{Series: name, Pool: pool, Throughput: row.Throughput, P99: p99})
		}
	}
	return pts
}

func (r *SweepResult) chartTitle() string {
	s := r.Config
	t := fmt.Sprintf("Pool sweep: GOMAXPROCS=%d, %d conns %s, work %v", s.Procs, s.Connections, connText(s.Close), s.Settings.Work)
	if s.Repeat > 1 {
		t += fmt.Sprintf(", median of %d", s.Repeat)
	}
	return t
}

// rateText is the request rate of a row, with its range over repeated runs.
func rateText(row Row) string {
	if row.Runs <= 1 || row.ThroughputMin == row.ThroughputMax {
		return fmt.Sprintf("%.0f", row.Throughput)
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", row.Throughput, row.ThroughputMin, row.ThroughputMax)
}

// poolText is a pool size, "-" in inline mode, which has none.
func poolText(mode string, pool int) string {
	if mode == config.ModeInline {
		return "-"
	}
	return strconv.Itoa(pool)
}

func connText(closeEach bool) string {
	if closeEach {
		return "one request per connection"
	}
	return "keep-alive"
}

func argsText(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return ", extra flags `" + strings.Join(args, " ") + "`"
}

func wrkText(s SweepConfig) string {
	if !slices.Contains(s.Engines, Wrk) {
		return ""
	}
	return fmt.Sprintf(", wrk with %d thread(s)", s.WrkThreads)
}

// ms formats a latency in milliseconds with about three significant digits.
func ms(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

func optMs(v *float64) string {
	if v == nil {
		return "-"
	}
	return ms(*v)
}

func num(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

func optNum(v *float64, prec int) string {
	if v == nil {
		return ""
	}
	return num(*v, prec)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
