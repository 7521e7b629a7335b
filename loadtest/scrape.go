package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"
)

// ParsePrometheusText reads metrics in the Prometheus text exposition format
// (with prometheus/common's expfmt parser) and returns every sample's value
// keyed by its series: the metric name, followed by its labels sorted by
// name when it has any, e.g. `offload_accept_errors_total{kind="resource"}`.
// Histogram and summary samples are series like any other
// (`x_bucket{le="0.1"}`, `x_sum`, `x_count`); timestamps are ignored.
func ParsePrometheusText(r io.Reader) (map[string]float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics text: %w", err)
	}
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, slices.Collect(maps.Values(families))...)
	if err != nil {
		return nil, fmt.Errorf("metrics text: %w", err)
	}
	out := make(map[string]float64, len(samples))
	for _, s := range samples {
		out[seriesKey(s.Metric)] = float64(s.Value)
	}
	return out, nil
}

// labelEscaper escapes a label value as the text format does.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// seriesKey is the key ParsePrometheusText gives a sample's labels.
func seriesKey(m model.Metric) string {
	var labels []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if name != model.MetricNameLabel {
			labels = append(labels, string(name)+`="`+labelEscaper.Replace(string(m[name]))+`"`)
		}
	}
	if len(labels) == 0 {
		return string(m[model.MetricNameLabel])
	}
	return string(m[model.MetricNameLabel]) + "{" + strings.Join(labels, ",") + "}"
}

// canonicalSeries returns a series selector such as `name{b="2",a="1"}` in
// the form ParsePrometheusText uses for keys.
func canonicalSeries(sel string) (string, error) {
	// As a sample with the value NaN, a selector followed by anything
	// (a value) would put it where the timestamp goes and fail.
	values, err := ParsePrometheusText(strings.NewReader(strings.TrimSpace(sel) + " NaN\n"))
	if err != nil {
		return "", fmt.Errorf("series selector: %w", err)
	}
	for key := range values {
		return key, nil
	}
	return "", errors.New("series selector: empty")
}

// metricName returns the name part of a canonical series key.
func metricName(key string) string {
	name, _, _ := strings.Cut(key, "{")
	return name
}

// isCounter reports whether a series is a counter, by the naming convention
// that counters, and only counters, end in _total.
func isCounter(key string) bool {
	return strings.HasSuffix(metricName(key), "_total")
}

// maxScrapeTimeout keeps a slow /metrics endpoint from delaying the series
// by more than a couple of seconds, whatever the interval.
const maxScrapeTimeout = 2 * time.Second

// scraper polls the server's metrics endpoint during a run. It has its own
// transport, so the load's connections and MaxInflight never delay it, and
// it runs in a single goroutine.
type scraper struct {
	s     *settings
	start time.Time
	*client

	out    Scrape
	prev   map[string]float64 // last successful scrape's values
	prevAt float64
}

func newScraper(s *settings, start time.Time) *scraper {
	return &scraper{
		s:     s,
		start: start,
		// A fresh connection per scrape: a keep-alive connection would sit
		// idle between scrapes, and the server may close it any time.
		client: newTransport(s.scrapeAddr, s.ScrapeURL, nil, true).newClient(),
		out:    Scrape{URL: s.ScrapeURL, IntervalSeconds: s.ScrapeInterval.Seconds(), Series: make(map[string][]Point)},
	}
}

// run scrapes at once and then every interval until done is closed or ctx
// is cancelled.
func (s *scraper) run(ctx context.Context, done <-chan struct{}) {
	tick := time.NewTicker(s.s.ScrapeInterval)
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

// scrape fetches the metrics once and adds the selected values to the
// series; a failure leaves a gap, and is not counted if the run was
// cancelled.
func (s *scraper) scrape(ctx context.Context) {
	at := time.Since(s.start).Seconds()
	deadline := time.Now().Add(min(s.s.ScrapeInterval, maxScrapeTimeout))
	err := s.do(ctx, deadline)
	if code := s.resp.StatusCode(); err == nil && code != fasthttp.StatusOK {
		err = fmt.Errorf("status %d", code)
	}
	var values map[string]float64
	if err == nil {
		values, err = ParsePrometheusText(bytes.NewReader(s.resp.Body()))
	}
	if err != nil {
		if ctx.Err() == nil {
			s.out.Failures++
			s.out.LastError = fmt.Sprintf("scrape %s: %v", s.out.URL, err)
		}
		return
	}
	s.out.Scrapes++
	selected := make(map[string]float64, len(s.s.selectors))
	for _, sel := range s.s.selectors {
		v, ok := lookup(values, sel)
		if _, dup := selected[sel]; !ok || dup {
			continue
		}
		selected[sel] = v
		prev, seen := s.prev[sel]
		switch {
		case !isCounter(sel):
			s.out.Series[sel] = append(s.out.Series[sel], Point{At: at, Value: v})
		case seen && v >= prev && at > s.prevAt:
			// A counter that went down was reset by a server restart; the
			// rate across the restart is unknown, so that point is left out.
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
