package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// ParsePrometheusText reads metrics in the Prometheus text exposition format
// and returns every sample's value keyed by its series: the metric name,
// followed by its labels sorted by name when it has any, e.g.
// `offload_accept_errors_total{kind="resource"}`. Comments, blank lines and
// timestamps are ignored; histogram and summary samples are series like any
// other (`x_bucket{le="0.1"}`, `x_sum`, `x_count`).
func ParsePrometheusText(r io.Reader) (map[string]float64, error) {
	out := make(map[string]float64)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		key, rest, err := parseSeries(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			return nil, fmt.Errorf("line %d: want a value and an optional timestamp after %s, got %q", line, key, rest)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: value of %s: %w", line, key, err)
		}
		out[key] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

// canonicalSeries returns a series selector such as `name{b="2",a="1"}` in
// the form ParsePrometheusText uses for keys.
func canonicalSeries(s string) (string, error) {
	key, rest, err := parseSeries(strings.TrimSpace(s))
	if err != nil {
		return "", err
	}
	if rest != "" {
		return "", fmt.Errorf("unexpected %q after the series", rest)
	}
	return key, nil
}

// parseSeries reads a metric name and optional label set from the start of
// s, returning them in canonical form and the rest of s.
func parseSeries(s string) (key, rest string, err error) {
	end := 0
	for end < len(s) && isNameChar(s[end], end == 0) {
		end++
	}
	if end == 0 {
		return "", "", fmt.Errorf("invalid metric name at %q", s)
	}
	name, rest := s[:end], s[end:]
	if !strings.HasPrefix(rest, "{") {
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return "", "", fmt.Errorf("invalid character %q in metric name %q", rest[0], s)
		}
		return name, strings.TrimSpace(rest), nil
	}
	labels, rest, err := parseLabels(rest[1:])
	if err != nil {
		return "", "", fmt.Errorf("labels of %s: %w", name, err)
	}
	return name + labels, strings.TrimSpace(rest), nil
}

// parseLabels reads `a="x",b="y"}` and returns `{a="x",b="y"}` with labels
// sorted by name ("" for an empty set), and what follows the closing brace.
func parseLabels(s string) (canonical, rest string, err error) {
	type label struct{ name, value string }
	var labels []label
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			s = s[1:]
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return "", "", errors.New("missing '=' or '}'")
		}
		name := strings.TrimSpace(s[:eq])
		for i := range len(name) {
			if !isNameChar(name[i], i == 0) || name[i] == ':' {
				return "", "", fmt.Errorf("invalid label name %q", name)
			}
		}
		if name == "" {
			return "", "", errors.New("empty label name")
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		if !strings.HasPrefix(s, `"`) {
			return "", "", fmt.Errorf("value of label %s is not quoted", name)
		}
		value, n, err := unquote(s[1:])
		if err != nil {
			return "", "", fmt.Errorf("label %s: %w", name, err)
		}
		labels = append(labels, label{name, value})
		s = strings.TrimLeft(s[1+n:], " \t")
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, "}"):
		default:
			return "", "", fmt.Errorf("want ',' or '}' after label %s", name)
		}
	}
	if len(labels) == 0 {
		return "", s, nil
	}
	slices.SortFunc(labels, func(a, b label) int { return strings.Compare(a.name, b.name) })
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.name)
		b.WriteString(`="`)
		for _, c := range []byte(l.value) {
			switch c {
			case '\\', '"':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), s, nil
}

// unquote reads a label value up to its closing quote, undoing the format's
// three escapes, and returns it with the number of bytes consumed, quote
// included.
func unquote(s string) (string, int, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			i++
			if i == len(s) {
				return "", 0, errors.New("unterminated escape")
			}
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case '\\', '"':
				b.WriteByte(s[i])
			default:
				b.WriteByte('\\')
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errors.New("unterminated label value")
}

func isNameChar(c byte, first bool) bool {
	return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

// metricName returns the name part of a canonical series key.
func metricName(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		return key[:i]
	}
	return key
}

// isCounter reports whether a series is a counter, by the naming convention
// that counters, and only counters, end in _total.
func isCounter(key string) bool {
	return strings.HasSuffix(metricName(key), "_total")
}

// scraper polls the server's metrics endpoint during a run. It has its own
// transport, so the load's connections and MaxInflight never delay it, and
// it runs in a single goroutine.
type scraper struct {
	t         *transport
	c         conn
	req       *fasthttp.Request
	resp      fasthttp.Response
	timeout   time.Duration
	interval  time.Duration
	selectors []string
	start     time.Time

	out    Scrape
	prev   map[string]float64 // last successful scrape's values
	prevAt float64
}

func newScraper(s *settings, start time.Time) *scraper {
	return &scraper{
		// A fresh connection per scrape: a keep-alive connection would sit
		// idle between scrapes, and the server may close it any time.
		t:         newTransport(s.scrapeAddr, true),
		req:       newRequest(s.ScrapeURL, nil, true),
		timeout:   min(s.ScrapeInterval, maxScrapeTimeout),
		interval:  s.ScrapeInterval,
		selectors: s.selectors,
		start:     start,
		out: Scrape{
			URL:             s.ScrapeURL,
			IntervalSeconds: s.ScrapeInterval.Seconds(),
			Series:          make(map[string][]Point),
		},
	}
}

// run scrapes at once and then every interval until done is closed or ctx
// is cancelled.
func (s *scraper) run(ctx context.Context, done <-chan struct{}) {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		s.scrape(ctx)
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-tick.C:
		}
	}
}

func (s *scraper) scrape(ctx context.Context) {
	at := time.Since(s.start).Seconds()
	values, err := s.fetch(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.out.Failures++
			s.out.LastError = err.Error()
		}
		return
	}
	s.out.Scrapes++
	s.add(at, values)
}

func (s *scraper) fetch(ctx context.Context) (map[string]float64, error) {
	if err := s.t.roundTrip(ctx, &s.c, s.req, &s.resp, time.Now().Add(s.timeout)); err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.out.URL, err)
	}
	if code := s.resp.StatusCode(); code != fasthttp.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %d", s.out.URL, code)
	}
	values, err := ParsePrometheusText(bytes.NewReader(s.resp.Body()))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.out.URL, err)
	}
	return values, nil
}

// add appends one scrape's selected values to the series.
func (s *scraper) add(at float64, values map[string]float64) {
	selected := make(map[string]float64, len(s.selectors))
	for _, sel := range s.selectors {
		if v, ok := lookup(values, sel); ok {
			selected[sel] = v
		}
	}
	for sel, v := range selected {
		if !isCounter(sel) {
			s.out.Series[sel] = append(s.out.Series[sel], Point{At: at, Value: v})
			continue
		}
		// A counter that went down was reset by a server restart; the
		// rate across the restart is unknown, so that point is left out.
		if prev, ok := s.prev[sel]; ok && v >= prev && at > s.prevAt {
			s.out.Series[sel] = append(s.out.Series[sel], Point{At: at, Value: (v - prev) / (at - s.prevAt)})
		}
	}
	s.prev, s.prevAt = selected, at
}

// lookup returns the value a selector picks: the series itself if it has
// labels, otherwise the sum over every series with that metric name.
func lookup(values map[string]float64, sel string) (float64, bool) {
	if strings.Contains(sel, "{") {
		v, ok := values[sel]
		return v, ok
	}
	var sum float64
	var found bool
	for key, v := range values {
		if metricName(key) == sel {
			sum += v
			found = true
		}
	}
	return sum, found
}

// result returns the series collected so far. Call it after run returns.
func (s *scraper) result() *Scrape {
	return &s.out
}
