package observe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"offload/config"
	"offload/metrics"
)

// Metrics fetches /metrics once from the -metrics-addr listener and
// returns every sample by series, as ParsePrometheusText does.
func (s *Server) Metrics(ctx context.Context) (map[string]float64, error) {
	url := s.MetricsURL()
	code, body, err := Get(ctx, url, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %d", url, code)
	}
	m, err := ParsePrometheusText(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return m, nil
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, for a server's side listeners.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// Get makes one GET request on a connection of its own, closed
// afterwards, and returns the status and body.
func Get(ctx context.Context, url string, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("User-Agent", "offload-experiment")
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// Calibrated returns cfg's server settings with WorkIterationNs set, so
// that every server started from them does the same work per -work (two
// start-up calibrations can differ by tens of percent). When it is 0, it
// starts `calibrations` servers in turn and keeps the lowest cost: one
// 0.2 s calibration can land in a half-speed moment (17.1 against 9.6 ns
// in one bench run), and the machine is never faster than it is. A slow
// stretch longer than all of them (18.24 against 9.4-9.8 ns) fools it.
func Calibrated(ctx context.Context, cfg Config) (config.Config, error) {
	if cfg.Server.WorkIterationNs > 0 {
		return cfg.Server, nil
	}
	lowest := math.Inf(1)
	for range calibrations {
		err := WithServer(ctx, cfg, func(srv *Server) error {
			m, err := srv.Metrics(ctx)
			sec := m[metrics.WorkIteration]
			if err == nil && !(sec > 0) {
				err = fmt.Errorf("the server exports no positive %s", metrics.WorkIteration)
			}
			lowest = min(lowest, sec)
			return err
		})
		if err != nil {
			return cfg.Server, fmt.Errorf("calibrate the work: %w", err)
		}
	}
	s := cfg.Server
	s.WorkIterationNs = lowest * 1e9
	return s, nil
}

// calibrations is how many servers Calibrated starts.
const calibrations = 3

// ParsePrometheusText reads the Prometheus text format with expfmt and
// returns every sample's value by series: the metric name and its labels
// sorted by name, e.g. `offload_accept_errors_total{kind="resource"}`, with
// histograms as their `_bucket{le="0.1"}`, `_sum` and `_count` series.
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
