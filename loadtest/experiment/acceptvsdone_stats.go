package experiment

import (
	"context"
	"fmt"
	"sync"
	"time"

	"offload/loadtest/observe"
	"offload/serverlog"
)

// addUsageSeries adds the series the experiment samples itself, at seconds
// since start: the listen queue and the cores of the server, of this
// process (the load generator) and of the rest of the machine.
func addUsageSeries(series map[string][]Point, snaps []observe.Snapshot, start time.Time) error {
	for i := 1; i < len(snaps); i++ {
		s, d := snaps[i], snaps[i].Since(snaps[i-1])
		q, err := s.ListenQueue()
		if err != nil {
			return err
		}
		t := s.At.Sub(start).Seconds()
		for name, v := range map[string]float64{
			"backlog":       float64(q.Queued),
			"server cpu":    d.Cores(d.ServerCPU),
			"generator cpu": d.Cores(d.GeneratorCPU),
			"other cpu":     d.Cores(d.OtherCPU),
		} {
			series[name] = append(series[name], Point{At: t, Value: v})
		}
	}
	return nil
}

// statsCollector turns the server's stats records into time series, at
// seconds since begin by the server's timestamps.
type statsCollector struct {
	mu      sync.Mutex
	start   time.Time // zero until begin
	points  map[string][]Point
	last    time.Duration // time of the latest line since start
	n       int
	arrived chan struct{} // closed and replaced on every record after begin
}

// begin marks the start of the ramp and returns it; earlier records are
// dropped.
func (s *statsCollector) begin() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = time.Now()
	s.points = map[string][]Point{}
	s.arrived = make(chan struct{})
	return s.start
}

// add is the observe.Config.OnRecord hook.
func (s *statsCollector) add(rec serverlog.Record) {
	if rec.Msg != serverlog.MsgStats {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.start.IsZero() || rec.Time.Before(s.start) {
		return
	}
	t := rec.Time.Sub(s.start)
	for name, v := range rec.Stats.Series() {
		s.points[name] = append(s.points[name], Point{At: t.Seconds(), Value: v})
	}
	s.last = max(s.last, t)
	s.n++
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// waitUntil waits until a record at or after t has arrived, for at most
// limit. A server that stopped printing stats is an error.
func (s *statsCollector) waitUntil(ctx context.Context, t, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		last, arrived := s.last, s.arrived
		s.mu.Unlock()
		if last >= t {
			return nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-deadline.C:
			return fmt.Errorf("the server logged no stats record after %.1fs of the ramp (last at %.1fs): is -stats-interval working?", t.Seconds(), last.Seconds())
		}
	}
}

// series returns the points up to end, by short name, and the number of
// records.
func (s *statsCollector) series(end time.Duration) (map[string][]Point, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]Point, len(s.points))
	for name, pts := range s.points {
		for _, p := range pts {
			if p.At <= end.Seconds() {
				out[name] = append(out[name], p)
			}
		}
	}
	return out, s.n
}

// meanRate averages the rate points whose interval (t-interval to t) lies
// within [from, to], with a quarter interval of slack for late points.
func meanRate(pts []Point, from, to float64, interval time.Duration) float64 {
	iv := interval.Seconds()
	var sum float64
	var n int
	for _, p := range pts {
		if p.At-iv >= from-iv/4 && p.At <= to+iv/4 {
			sum += p.Value
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// maxValue is the largest gauge value scraped within [from, to].
func maxValue(pts []Point, from, to float64) float64 {
	var m float64
	for _, p := range pts {
		if p.At >= from && p.At <= to {
			m = max(m, p.Value)
		}
	}
	return m
}
