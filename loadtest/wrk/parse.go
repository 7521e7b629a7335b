// Package wrk runs the wrk HTTP benchmarking tool (version 4.x) and parses
// the summary it prints, so that experiment drivers can compare wrk's view of
// a server with the project's own load generator.
//
// The parser follows the format of wrk's print_stats, print_stats_latency and
// units.c (format_time_us, format_metric, format_binary). wrk prints every
// number with two decimals and a scaled unit, so durations and byte counts
// recovered here are only as precise as that text (about 0.5% of the unit).
package wrk

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Result is what wrk reports at the end of a run.
type Result struct {
	// URL is the target from the "Running ... test @ URL" header.
	URL string
	// Duration is the requested test duration from the header. wrk prints it
	// with no decimals in seconds or minutes (90s is printed as "2m"), so use
	// Runtime for anything quantitative.
	Duration time.Duration
	// Threads and Connections are the values wrk was started with. wrk
	// gives each thread Connections/Threads connections, so when
	// Connections is not a multiple of Threads fewer connections were open.
	Threads     int
	Connections int

	// Latency summarises per-request latency. wrk only records latencies
	// up to its --timeout; slower responses count as Socket errors timeout.
	Latency LatencyStats
	// RequestRate summarises the per-thread request rate that wrk samples
	// every 100ms (the "Req/Sec" row): it is per thread, not the total.
	RequestRate RateStats
	// Distribution holds the --latency percentiles (50, 75, 90 and 99) in
	// the order printed; it is nil when wrk ran without --latency.
	Distribution []Percentile

	// Requests is the number of responses wrk completed.
	Requests int64
	// Runtime is the measured run time from the "requests in" line; it is
	// usually a little longer than Duration because threads notice the
	// end of the run only at their next 100ms tick.
	Runtime time.Duration
	// BytesRead is the response bytes read, rounded to the two decimals
	// of the scaled unit wrk prints.
	BytesRead int64
	// SocketErrors is zero when wrk printed no "Socket errors" line.
	SocketErrors SocketErrors
	// Non2xx3xx is the "Non-2xx or 3xx responses" count, zero when absent.
	// Despite the wording, wrk counts responses with status >= 400.
	Non2xx3xx int64
	// RequestsPerSec is Requests divided by Runtime, as printed.
	RequestsPerSec float64
	// TransferPerSec is response bytes per second, as printed.
	TransferPerSec float64
}

// LatencyStats is the "Latency" row of wrk's "Thread Stats" table.
type LatencyStats struct {
	// Avg, Stdev and Max are the mean, standard deviation and maximum
	// latency; all zero when no response was recorded.
	Avg, Stdev, Max time.Duration
	// WithinStdev is the percentage of samples within one standard
	// deviation of the mean; NaN when there were no samples (wrk prints
	// "-nan%").
	WithinStdev float64
}

// RateStats is the "Req/Sec" row of wrk's "Thread Stats" table.
type RateStats struct {
	// Avg, Stdev and Max are the mean, standard deviation and maximum
	// of one thread's requests per second over 100ms samples.
	Avg, Stdev, Max float64
	// WithinStdev is as in LatencyStats.
	WithinStdev float64
}

// Percentile is one line of wrk's "Latency Distribution" block.
type Percentile struct {
	// P is the percentile in percent, e.g. 99.
	P float64
	// Latency is the latency at percentile P.
	Latency time.Duration
}

// SocketErrors is wrk's "Socket errors" line.
type SocketErrors struct {
	// Connect, Read and Write count failed socket operations, after each
	// of which wrk reconnects; Timeout counts responses slower than
	// --timeout, which wrk completes but leaves out of the latencies.
	Connect, Read, Write, Timeout int64
}

// Total is the sum of all socket error counts.
func (e SocketErrors) Total() int64 {
	return e.Connect + e.Read + e.Write + e.Timeout
}

// Percentile returns the latency at percentile p (in percent, e.g. 99) from
// the --latency distribution, and false when wrk did not print it.
func (r Result) Percentile(p float64) (time.Duration, bool) {
	for _, q := range r.Distribution {
		if q.P == p {
			return q.Latency, true
		}
	}
	return 0, false
}

// Descriptions of the lines wrk always prints, used to say what is missing.
const (
	lineRunning     = `"Running <T> test @ <URL>"`
	lineThreads     = `"<N> threads and <M> connections"`
	lineLatency     = `"Latency <avg> <stdev> <max> <+/-%>"`
	lineReqSec      = `"Req/Sec <avg> <stdev> <max> <+/-%>"`
	lineRequests    = `"<N> requests in <T>, <B> read"`
	lineRequestsSec = `"Requests/sec: <R>"`
	lineTransferSec = `"Transfer/sec: <B>"`
)

// Parse parses the standard output of a wrk 4.x run. The "Latency
// Distribution", "Socket errors" and "Non-2xx or 3xx responses" blocks are
// optional; every line wrk always prints is required, so truncated output is
// reported rather than read as zeros. Lines wrk does not print itself (such
// as output of a Lua done() callback) are ignored.
func Parse(output string) (Result, error) {
	if strings.TrimSpace(output) == "" {
		return Result{}, errors.New("empty wrk output")
	}
	var (
		r      Result
		seen   = map[string]bool{}
		inDist bool
	)
	// once rejects a repeated line, which would otherwise silently
	// overwrite the first: it means two outputs were concatenated.
	once := func(what string) error {
		if seen[what] {
			return fmt.Errorf("repeated %s line", what)
		}
		seen[what] = true
		return nil
	}
	for i, raw := range strings.Split(output, "\n") {
		line := strings.TrimSpace(raw)
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		var err error
		wasDist := inDist
		inDist = false
		switch {
		case strings.HasPrefix(line, "Running ") && strings.Contains(line, " test @ "):
			if err = once(lineRunning); err == nil {
				err = parseRunning(line, &r)
			}
		case strings.HasSuffix(line, " connections") && strings.Contains(line, " threads and "):
			if err = once(lineThreads); err == nil {
				err = parseThreads(line, &r)
			}
		case strings.HasPrefix(line, "Thread Stats"):
			// Column header only.
		case line == "Latency Distribution":
			if err = once("\"Latency Distribution\""); err == nil {
				inDist = true
				r.Distribution = []Percentile{}
			}
		case fields[0] == "Latency":
			if err = once(lineLatency); err == nil {
				r.Latency, err = parseLatencyRow(fields)
			}
		case fields[0] == "Req/Sec":
			if err = once(lineReqSec); err == nil {
				r.RequestRate, err = parseRateRow(fields)
			}
		case wasDist && len(fields) == 2 && strings.HasSuffix(fields[0], "%"):
			inDist = true
			var p Percentile
			if p, err = parsePercentile(fields); err == nil {
				r.Distribution = append(r.Distribution, p)
			}
		case strings.Contains(line, " requests in "):
			if err = once(lineRequests); err == nil {
				err = parseRequests(line, &r)
			}
		case strings.HasPrefix(line, "Socket errors:"):
			if err = once(`"Socket errors:"`); err == nil {
				r.SocketErrors, err = parseSocketErrors(strings.TrimPrefix(line, "Socket errors:"))
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			if err = once(`"Non-2xx or 3xx responses:"`); err == nil {
				r.Non2xx3xx, err = parseCount(strings.TrimPrefix(line, "Non-2xx or 3xx responses:"))
			}
		case strings.HasPrefix(line, "Requests/sec:"):
			if err = once(lineRequestsSec); err == nil {
				r.RequestsPerSec, err = parseNonNegFloat(strings.TrimPrefix(line, "Requests/sec:"))
			}
		case strings.HasPrefix(line, "Transfer/sec:"):
			if err = once(lineTransferSec); err == nil {
				var b float64
				b, err = parseBinary(strings.TrimSpace(strings.TrimPrefix(line, "Transfer/sec:")))
				r.TransferPerSec = b
			}
		}
		if err != nil {
			return Result{}, fmt.Errorf("wrk output line %d %q: %w", i+1, line, err)
		}
	}
	var missing []string
	for _, what := range []string{lineRunning, lineThreads, lineLatency, lineReqSec, lineRequests, lineRequestsSec, lineTransferSec} {
		if !seen[what] {
			missing = append(missing, what)
		}
	}
	if len(missing) > 0 {
		return Result{}, fmt.Errorf("wrk output is incomplete, missing line(s): %s", strings.Join(missing, ", "))
	}
	if r.Distribution != nil && len(r.Distribution) == 0 {
		return Result{}, errors.New("wrk output has a \"Latency Distribution\" header but no percentile lines")
	}
	return r, nil
}

func parseRunning(line string, r *Result) error {
	spec, url, _ := strings.Cut(strings.TrimPrefix(line, "Running "), " test @ ")
	d, err := parseDuration(spec)
	if err != nil {
		return fmt.Errorf("test duration: %w", err)
	}
	r.Duration = d
	r.URL = strings.TrimSpace(url)
	return nil
}

func parseThreads(line string, r *Result) error {
	threads, conns, _ := strings.Cut(strings.TrimSuffix(line, " connections"), " threads and ")
	t, err := strconv.Atoi(strings.TrimSpace(threads))
	if err != nil {
		return fmt.Errorf("thread count: %w", err)
	}
	c, err := strconv.Atoi(strings.TrimSpace(conns))
	if err != nil {
		return fmt.Errorf("connection count: %w", err)
	}
	r.Threads, r.Connections = t, c
	return nil
}

func parseLatencyRow(fields []string) (LatencyStats, error) {
	if len(fields) != 5 {
		return LatencyStats{}, fmt.Errorf("want 4 values after %q, got %d", fields[0], len(fields)-1)
	}
	var (
		s   LatencyStats
		err error
	)
	for i, dst := range []*time.Duration{&s.Avg, &s.Stdev, &s.Max} {
		if *dst, err = parseDuration(fields[i+1]); err != nil {
			return LatencyStats{}, fmt.Errorf("%s: %w", []string{"avg", "stdev", "max"}[i], err)
		}
	}
	if s.WithinStdev, err = parsePercent(fields[4]); err != nil {
		return LatencyStats{}, fmt.Errorf("+/- stdev: %w", err)
	}
	return s, nil
}

func parseRateRow(fields []string) (RateStats, error) {
	if len(fields) != 5 {
		return RateStats{}, fmt.Errorf("want 4 values after %q, got %d", fields[0], len(fields)-1)
	}
	var (
		s   RateStats
		err error
	)
	for i, dst := range []*float64{&s.Avg, &s.Stdev, &s.Max} {
		if *dst, err = parseMetric(fields[i+1]); err != nil {
			return RateStats{}, fmt.Errorf("%s: %w", []string{"avg", "stdev", "max"}[i], err)
		}
	}
	if s.WithinStdev, err = parsePercent(fields[4]); err != nil {
		return RateStats{}, fmt.Errorf("+/- stdev: %w", err)
	}
	return s, nil
}

func parsePercentile(fields []string) (Percentile, error) {
	p, err := parsePercent(fields[0])
	if err != nil || math.IsNaN(p) || p > 100 {
		return Percentile{}, fmt.Errorf("bad percentile %q", fields[0])
	}
	d, err := parseDuration(fields[1])
	if err != nil {
		return Percentile{}, fmt.Errorf("latency at %s: %w", fields[0], err)
	}
	return Percentile{P: p, Latency: d}, nil
}

func parseRequests(line string, r *Result) error {
	count, rest, _ := strings.Cut(line, " requests in ")
	runtime, read, ok := strings.Cut(rest, ", ")
	if !ok || !strings.HasSuffix(read, " read") {
		return fmt.Errorf("want the form %s", lineRequests)
	}
	n, err := parseCount(count)
	if err != nil {
		return fmt.Errorf("request count: %w", err)
	}
	d, err := parseDuration(runtime)
	if err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	b, err := parseBinary(strings.TrimSuffix(read, " read"))
	if err != nil {
		return fmt.Errorf("bytes read: %w", err)
	}
	r.Requests, r.Runtime, r.BytesRead = n, d, int64(math.Round(b))
	return nil
}

func parseSocketErrors(s string) (SocketErrors, error) {
	var e SocketErrors
	want := []struct {
		name string
		dst  *int64
	}{{"connect", &e.Connect}, {"read", &e.Read}, {"write", &e.Write}, {"timeout", &e.Timeout}}
	parts := strings.Split(s, ",")
	if len(parts) != len(want) {
		return SocketErrors{}, errors.New(`want "connect A, read B, write C, timeout D"`)
	}
	for i, part := range parts {
		name, val, _ := strings.Cut(strings.TrimSpace(part), " ")
		if name != want[i].name {
			return SocketErrors{}, fmt.Errorf("want %q in position %d, got %q", want[i].name, i+1, name)
		}
		n, err := parseCount(val)
		if err != nil {
			return SocketErrors{}, fmt.Errorf("%s: %w", name, err)
		}
		*want[i].dst = n
	}
	return e, nil
}

func parseCount(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative count %d", n)
	}
	return n, nil
}

func parseNonNegFloat(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("number: %w", err)
	}
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("want a finite non-negative number, got %q", s)
	}
	return v, nil
}

// parsePercent parses "90.89%". glibc prints NaN as "-nan" or "nan"
// when wrk had no samples, which strconv does not accept with a sign.
func parsePercent(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, fmt.Errorf("want a percentage, got %q", s)
	}
	if strings.EqualFold(strings.TrimLeft(num, "+-"), "nan") {
		return math.NaN(), nil
	}
	return parseNonNegFloat(num)
}

// splitUnit splits "12.34ms" into 12.34 and "ms".
func splitUnit(s string) (float64, string, error) {
	i := strings.IndexFunc(s, func(r rune) bool {
		return (r < '0' || r > '9') && r != '.'
	})
	if i < 0 {
		i = len(s)
	}
	if i == 0 {
		return 0, "", fmt.Errorf("want a number, got %q", s)
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, "", fmt.Errorf("number in %q: %w", s, err)
	}
	return v, s[i:], nil
}

// parseDuration parses wrk's time units: "us", "ms", "s" and "m" from
// format_time_us, and "h" which wrk's units table has though its formatter
// never reaches it.
func parseDuration(s string) (time.Duration, error) {
	v, unit, err := splitUnit(s)
	if err != nil {
		return 0, err
	}
	var scale time.Duration
	switch unit {
	case "us":
		scale = time.Microsecond
	case "ms":
		scale = time.Millisecond
	case "s":
		scale = time.Second
	case "m":
		scale = time.Minute
	case "h":
		scale = time.Hour
	default:
		return 0, fmt.Errorf("unknown time unit in %q (want us, ms, s, m or h)", s)
	}
	return time.Duration(math.Round(v * float64(scale))), nil
}

// parseMetric parses format_metric output such as "25.28k" or "218.46".
func parseMetric(s string) (float64, error) {
	v, unit, err := splitUnit(s)
	if err != nil {
		return 0, err
	}
	mult, ok := map[string]float64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}[unit]
	if !ok {
		return 0, fmt.Errorf("unknown metric suffix in %q (want k, M, G, T or none)", s)
	}
	return v * mult, nil
}

// parseBinary parses format_binary output followed by "B", such as
// "11.74MB" or "640.59B"; wrk's K, M, G and T are powers of 1024.
func parseBinary(s string) (float64, error) {
	v, unit, err := splitUnit(s)
	if err != nil {
		return 0, err
	}
	mult, ok := map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}[unit]
	if !ok {
		return 0, fmt.Errorf("unknown byte unit in %q (want B, KB, MB, GB or TB)", s)
	}
	return v * mult, nil
}
