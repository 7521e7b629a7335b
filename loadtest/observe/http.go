package observe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"offload/config"
	"offload/loadtest"
	"offload/metrics"
)

// Metrics fetches /metrics once from the -metrics-addr listener and
// returns every sample by series, as loadtest.ParsePrometheusText does.
func (s *Server) Metrics(ctx context.Context) (map[string]float64, error) {
	url := s.MetricsURL()
	code, body, err := Get(ctx, url, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %d", url, code)
	}
	m, err := loadtest.ParsePrometheusText(bytes.NewReader(body))
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
// that every server started from them does the same work per -work. Each
// server otherwise calibrates itself at start-up, and on a shared machine
// two calibrations a minute apart can differ by tens of percent: the
// servers of one experiment would then do different amounts of work. When
// WorkIterationNs is 0, Calibrated starts one server from cfg, reads the
// cost it measured and stops it.
func Calibrated(ctx context.Context, cfg Config) (config.Config, error) {
	if cfg.Server.WorkIterationNs > 0 {
		return cfg.Server, nil
	}
	var sec float64
	err := WithServer(ctx, cfg, func(srv *Server) error {
		m, err := srv.Metrics(ctx)
		if sec = m[metrics.WorkIteration]; err == nil && !(sec > 0) {
			err = fmt.Errorf("the server exports no positive %s", metrics.WorkIteration)
		}
		return err
	})
	if err != nil {
		return cfg.Server, fmt.Errorf("calibrate the work: %w", err)
	}
	s := cfg.Server
	s.WorkIterationNs = sec * 1e9
	return s, nil
}
