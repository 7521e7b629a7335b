package experiment

import (
	"time"

	"offload/loadtest/observe"
	"offload/metrics"
)

// timelines turns consecutive snapshots into the series of a run, at
// seconds since start: the server's counters as rates per second over each
// interval, its gauges at the interval's end, "backlog" (the kernel's listen
// queue as the server reports it), and the CPU cores used by the server, by
// this process (the load generator) and by the rest of the machine.
func timelines(snaps []observe.Snapshot, start time.Time) (map[string][]Point, error) {
	series := map[string][]Point{}
	for i := 1; i < len(snaps); i++ {
		s, d := snaps[i], snaps[i].Since(snaps[i-1])
		q, err := s.ListenQueue()
		if err != nil {
			return nil, err
		}
		t := s.At.Sub(start).Seconds()
		for name, v := range map[string]float64{
			"accepted/s":    d.Rate(metrics.ConnectionsAccepted),
			"closed/s":      d.Rate(metrics.ConnectionsClosed),
			"submitted/s":   d.Rate(metrics.JobsSubmitted),
			"completed/s":   d.Rate(metrics.JobsCompleted),
			"rejected/s":    d.Rate(metrics.JobsRejected),
			"dropped/s":     d.Rate(metrics.JobsDropped),
			"queued":        s.Metrics[metrics.JobsQueued],
			"running":       s.Metrics[metrics.JobsRunning],
			"connections":   s.Metrics[metrics.ConnectionsActive],
			"backlog":       float64(q.Queued),
			"server cpu":    d.Cores(d.ServerCPU),
			"generator cpu": d.Cores(d.GeneratorCPU),
			"other cpu":     d.Cores(d.OtherCPU),
		} {
			series[name] = append(series[name], Point{At: t, Value: v})
		}
	}
	return series, nil
}

// meanRate averages the rate points whose interval lies within [from, to].
// A rate point at time t covers the interval since the previous snapshot,
// about t-interval to t; allowing a quarter interval of slack keeps points
// whose snapshot was a little late.
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

// maxValue is the largest gauge value sampled within [from, to].
func maxValue(pts []Point, from, to float64) float64 {
	var m float64
	for _, p := range pts {
		if p.At >= from && p.At <= to {
			m = max(m, p.Value)
		}
	}
	return m
}
