package experiment

import (
	"context"
	"slices"
	"time"

	"offload/loadtest/observe"
	"offload/metrics"
)

// stateSample is a snapshot of the server and its readiness at one moment.
type stateSample struct {
	at      time.Duration
	unready bool
	snap    observe.Snapshot
}

// gauge is the value of a series of the server's metrics.
func (s stateSample) gauge(series string) float64 { return s.snap.Metrics[series] }

// sampleState snapshots the server and reads its readiness every interval
// until ctx ends, and once more then, so that counters cover the run.
func sampleState(ctx context.Context, srv *observe.Server, begin time.Time, interval time.Duration) []stateSample {
	var out []stateSample
	take := func(ctx context.Context) {
		at := time.Since(begin)
		snap, err := srv.Snapshot(ctx)
		if err != nil {
			return // a missed sample leaves a gap; the phase has others
		}
		code, _, err := observe.Get(ctx, srv.URL("/readyz"), 2*time.Second)
		out = append(out, stateSample{at: at, unready: err == nil && code != 200, snap: snap})
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			take(last)
			cancel()
			return out
		case <-tick.C:
			take(ctx)
		}
	}
}

// timeline cuts the run into buckets of width: the bulk load by the
// requests' scheduled times, and the server's state as last sampled.
func timeline(loads []phaseLoad, states []stateSample, width time.Duration) []Bucket {
	var end time.Duration
	for _, l := range loads {
		end = max(end, l.offset+l.phase.Length)
	}
	n := int(end/width) + 1
	sent, ok := make([]int, n), make([]int, n)
	lat200, lat503 := make([][]time.Duration, n), make([][]time.Duration, n)
	for _, l := range loads {
		for _, rec := range l.bulk.Records {
			i := int((l.offset + rec.At) / width)
			if i >= n {
				continue
			}
			sent[i]++
			switch rec.Status {
			case 200:
				ok[i]++
				lat200[i] = append(lat200[i], rec.Latency)
			case 503:
				lat503[i] = append(lat503[i], rec.Latency)
			}
		}
	}
	out := make([]Bucket, n)
	for i := range out {
		b := &out[i]
		b.T = (time.Duration(i) * width).Seconds()
		b.Offered, b.Goodput = float64(sent[i])/width.Seconds(), float64(ok[i])/width.Seconds()
		if len(lat200[i]) > 0 {
			b.P50, b.P99 = ptr(quantileMs(lat200[i], 0.5)), ptr(quantileMs(lat200[i], 0.99))
		}
		if len(lat503[i]) > 0 {
			b.BusyP99 = ptr(quantileMs(lat503[i], 0.99))
		}
	}
	for _, s := range states {
		if i := int(s.at / width); i < n {
			out[i].Overloaded, out[i].Queued = ptr(s.gauge(metrics.OverloadActive)), ptr(s.gauge(metrics.JobsQueued))
		}
	}
	return out
}

// quantileMs is the q-quantile of ds in milliseconds, 0 for none.
func quantileMs(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(q*float64(len(s))))]) / float64(time.Millisecond)
}
