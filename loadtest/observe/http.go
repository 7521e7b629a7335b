package observe

import (
	"bytes"
	"context"
	"errors"
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

// ListenQueue is the kernel's accept queue of the server's listening
// sockets, summed over its SO_REUSEPORT group, as the server reports it
// (offload_listen_queue_length and _capacity, read from the listeners'
// TCP_INFO at scrape time): connections waiting there were not yet seen by
// the server's acceptors at all.
type ListenQueue struct {
	// Queued is the number of connections the kernel has completed and
	// that wait for the server to accept them.
	Queued int
	// Limit is the most the kernel holds before it drops new handshakes:
	// the effective listen backlog.
	Limit int
}

// listenQueue reads the listen queue from a scrape's metrics.
func listenQueue(m map[string]float64) (ListenQueue, bool) {
	length, ok1 := m[metrics.ListenQueueLength]
	capacity, ok2 := m[metrics.ListenQueueCapacity]
	return ListenQueue{Queued: int(length), Limit: int(capacity)}, ok1 && ok2
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

// WorkIterationNs reads the cost of one work iteration the server uses, in
// nanoseconds: its start-up calibration, or its -work-iteration-ns.
func (s *Server) WorkIterationNs(ctx context.Context) (float64, error) {
	m, err := s.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	sec, ok := m[metrics.WorkIteration]
	if !ok || !(sec > 0) {
		return 0, fmt.Errorf("the server exports no positive %s", metrics.WorkIteration)
	}
	return sec * 1e9, nil
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
	srv, err := Start(ctx, cfg)
	if err != nil {
		return cfg.Server, fmt.Errorf("calibrate the work: %w", err)
	}
	ns, err := srv.WorkIterationNs(ctx)
	if err = errors.Join(err, srv.Stop(context.WithoutCancel(ctx))); err != nil {
		return cfg.Server, fmt.Errorf("calibrate the work: %w", err)
	}
	s := cfg.Server
	s.WorkIterationNs = ns
	return s, nil
}
