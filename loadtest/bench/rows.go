package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"offload/config"
	"offload/loadtest"
	"offload/loadtest/experiment"
	"offload/loadtest/observe"
	"offload/metrics"
	"offload/overload"
)

// errNoCapacity fails the rows scaled from row 1's capacity without it.
var errNoCapacity = errors.New("capacity unknown: row 1 failed")

// fail marks a row that could not be measured.
func (r *Row) fail(err error) {
	r.Err, r.Measured, r.Pass = err.Error(), "not measured", false
}

// defaultWork is the server's default -work.
const defaultWork = 4 * time.Millisecond

// openLoad runs an open loop at rate on /data together with a /healthz
// probe at probeRate (0 for none), both for d after warmup.
func (b *bench) openLoad(ctx context.Context, srv *observe.Server, rate, probeRate float64, warmup, d time.Duration) (data, probe *loadtest.Result, err error) {
	waitProbe := func() (*loadtest.Result, error) { return nil, nil }
	if probeRate > 0 {
		waitProbe = experiment.StartLoad(ctx, loadtest.Config{
			URL: srv.URL("/healthz"), Rates: []float64{probeRate}, Warmup: warmup, Duration: d, Timeout: 5 * time.Second,
		})
	}
	data, err = loadtest.Run(ctx, loadtest.Config{
		URL: srv.URL("/data"), Rates: []float64{rate}, MaxInflight: 20000, Warmup: warmup, Duration: d, Timeout: 10 * time.Second,
	})
	probe, probeErr := waitProbe()
	return data, probe, errors.Join(err, probeErr)
}

// 4. IO stays responsive: /healthz under /data at twice capacity, for
// every pool size from 1 to 2 × GOMAXPROCS.
func (b *bench) ioResponsive(ctx context.Context, row *Row) error {
	rate := 2 * b.report.Capacity
	d := b.scaled(11 * time.Second)
	for pool := 1; pool <= 2*b.cfg.Procs; pool++ {
		p, err := b.poolPoint(ctx, pool, rate, d)
		if err != nil {
			return err
		}
		b.report.PoolSweep = append(b.report.PoolSweep, p)
		b.progress("pool %d: healthz p99 %.2f ms over %d probes, /data goodput %.0f/s", pool, p.HealthzP99Ms, p.HealthzN, p.Goodput)
	}
	def := b.report.PoolSweep[b.cfg.Procs-1]
	row.Values["healthz_p99_ms"], row.Values["probes"], row.Values["data_rate_rps"] = def.HealthzP99Ms, float64(def.HealthzN), rate
	row.Pass = def.HealthzP99Ms <= 5 && (def.HealthzN >= 1000 || b.cfg.Scale < 1)
	row.Measured = fmt.Sprintf("healthz p99 %.2f ms over %d probes at pool %d (default); /data offered %.0f/s", def.HealthzP99Ms, def.HealthzN, def.Pool, rate)
	best := def
	for _, p := range b.report.PoolSweep {
		if p.HealthzP99Ms <= 5 && p.Goodput > best.Goodput*1.05 {
			best = p
		}
	}
	row.Notes = append(row.Notes, fmt.Sprintf("highest goodput with healthz p99 ≤ 5 ms: pool %d (%.0f/s); default pool %d (%.0f/s)", best.Pool, best.Goodput, def.Pool, def.Goodput))
	return nil
}

func (b *bench) poolPoint(ctx context.Context, pool int, rate float64, d time.Duration) (p PoolPoint, err error) {
	err = b.withServer(ctx, b.cfg.Server, func(c *config.Config) { c.Pool = pool }, func(srv *observe.Server) error {
		data, probe, err := b.openLoad(ctx, srv, rate, 100, b.scaled(time.Second), d)
		if err != nil {
			return err
		}
		p = PoolPoint{
			Pool: pool, HealthzP99Ms: probe.Latency.P99, HealthzN: probe.Answered,
			Goodput: data.Goodput, DataP99Ms: data.LatencyByStatus[200].P99,
		}
		return nil
	})
	return p, err
}

// 5. Overload of the static queue: three times capacity for 20 s.
func (b *bench) overload(ctx context.Context, row *Row) error {
	const queue = 64 // the server's default -queue; no -queue-timeout
	warmup, d := b.scaled(time.Second), b.scaled(20*time.Second)
	offered := 3 * b.report.Capacity
	var capacity float64
	var data *loadtest.Result
	var snaps []observe.Snapshot
	const sampleEvery = 250 * time.Millisecond
	static := func(c *config.Config) { c.Overload = overload.Static.String() }
	err := b.withServer(ctx, b.cfg.Server, static, func(srv *observe.Server) error {
		// The machine's speed drifts: capacity again, right before.
		capWindow, err := b.saturate(ctx, srv, b.scaled(3*time.Second))
		if err != nil {
			return err
		}
		capacity = capWindow.Rate(metrics.JobsCompleted)
		snaps, err = srv.SampleWhile(ctx, sampleEvery, func() (err error) {
			data, err = loadtest.Run(ctx, loadtest.Config{
				URL: srv.URL("/data"), Rates: []float64{offered}, MaxInflight: 20000, Warmup: warmup, Duration: d,
				Timeout: 10 * time.Second,
			})
			return err
		})
		return err
	})
	if err != nil {
		return err
	}
	// A job admitted to a full queue completes after queue + pool jobs,
	// drained at the rate the pool completes them: the bound takes the
	// slowest quarter second of the run (a wait lasts about that long),
	// plus 5 ms for the network and the client.
	slowest, rss5, rssEnd := sampled(snaps, warmup, warmup+min(5*time.Second, d/4))
	bound := (queue+float64(b.cfg.Procs))/slowest*1000 + 5
	ok, busy := data.LatencyByStatus[200], data.LatencyByStatus[503]
	unanswered := data.Outcomes.Errors() + data.Outcomes.Missed
	v := row.Values
	v["goodput_rps"], v["capacity_rps"], v["goodput_ratio"] = data.Goodput, capacity, data.Goodput/capacity
	v["p99_503_ms"], v["p99_200_ms"], v["bound_200_ms"], v["slowest_completions_per_s"] = busy.P99, ok.P99, bound, slowest
	v["unanswered"], v["rss_5s_mb"], v["rss_end_mb"] = float64(unanswered), float64(rss5)/1e6, float64(rssEnd)/1e6
	rssOK := rss5 > 0 && float64(rssEnd) <= 1.2*float64(rss5)
	row.Pass = data.Goodput >= 0.9*capacity && busy.P99 <= 5 && ok.P99 <= bound && unanswered == 0 && rssOK
	row.Measured = fmt.Sprintf("goodput %.0f/s = %.2f × capacity; 503 p99 %.2f ms; 200 p99 %.1f ms (bound %.1f ms); unanswered %d; RSS %.1f → %.1f MB",
		data.Goodput, data.Goodput/capacity, busy.P99, ok.P99, bound, unanswered, float64(rss5)/1e6, float64(rssEnd)/1e6)
	row.Notes = append(row.Notes, fmt.Sprintf("capacity %.0f/s measured on the same server just before; offered %.0f/s; statuses %v; 200 p50 %.1f ms; "+
		"bound = (queue %d + pool %d) / the slowest quarter second's %.0f completions/s + 5 ms (at the average goodput it would be %.1f ms)",
		capacity, offered, data.Outcomes.Status, ok.P50, queue, b.cfg.Procs, slowest, (queue+float64(b.cfg.Procs))/data.Goodput*1000+5))
	return nil
}

// sampled reads the samples of an overload: the lowest completion rate
// between two after the warmup (but for the ragged last interval), and the
// resident memory at the first sample from early on and at the last.
func sampled(snaps []observe.Snapshot, warmup, early time.Duration) (slowest float64, rssEarly, rssEnd int64) {
	if len(snaps) < 2 {
		return math.NaN(), 0, 0
	}
	start, slowest := snaps[0].At, math.Inf(1)
	for i := 1; i < len(snaps)-1; i++ {
		since := snaps[i].At.Sub(start)
		if d := snaps[i].Since(snaps[i-1]); since.Seconds()-d.Wall > warmup.Seconds() {
			slowest = min(slowest, d.Rate(metrics.JobsCompleted))
		}
		if rssEarly == 0 && since >= early {
			rssEarly = snaps[i].RSS
		}
	}
	return slowest, rssEarly, snaps[len(snaps)-1].RSS
}

// 6. Connections: memory per idle keep-alive connection, and new
// connections per second.
func (b *bench) connections(ctx context.Context, row *Row) error {
	n := 10000
	if b.cfg.Scale < 1 {
		n = 1000
	}
	if limit := fdLimit() - 100; limit < n {
		row.Notes = append(row.Notes, fmt.Sprintf("this process may open %d files: measured with %d connections", limit+100, limit))
		n = limit
	}
	var perConn, rate float64
	err := b.withServer(ctx, b.cfg.Server, nil, func(srv *observe.Server) (err error) {
		if perConn, err = idleConnectionCost(ctx, srv, n); err != nil {
			return err
		}
		rate, err = closedLoop(ctx, srv.URL("/healthz"), 32, b.scaled(5*time.Second), true)
		return err
	})
	if err != nil {
		return err
	}
	row.Values["rss_per_idle_conn_kb"], row.Values["idle_conns"], row.Values["new_conns_per_s"] = perConn/1024, float64(n), rate
	row.Pass = perConn <= 10*1024 && rate >= 10000
	row.Measured = fmt.Sprintf("%.1f KB per idle connection (%d held); %.0f new connections/s", perConn/1024, n, rate)
	row.Notes = append(row.Notes,
		"connection rate: 32 connections each sending one request with Connection: close, "+engine())
	return nil
}

// 7. Latency at half capacity, against W, the mean time a job ran on its
// worker in the same window: a slowed machine raises W with the latency.
func (b *bench) halfCapacityLatency(ctx context.Context, row *Row) error {
	var rate float64
	var data *loadtest.Result
	var window observe.Delta
	err := b.withServer(ctx, b.cfg.Server, nil, func(srv *observe.Server) (err error) {
		// Half of the capacity measured right before, as row 5 does.
		c, err := capacity(ctx, srv, b.cfg.Procs, b.scaled(time.Second), b.scaled(3*time.Second))
		if err != nil {
			return err
		}
		rate = c / 2
		window, err = srv.Measure(ctx, func() (err error) {
			data, _, err = b.openLoad(ctx, srv, rate, 0, b.scaled(time.Second), b.scaled(10*time.Second))
			return err
		})
		return err
	})
	if err != nil {
		return err
	}
	jobs := window.Counter(metrics.WorkTime + "_count")
	if jobs == 0 {
		return fmt.Errorf("no job ran: %s_count did not grow", metrics.WorkTime)
	}
	w := window.Counter(metrics.WorkTime+"_sum") / jobs * 1000 // ms
	b.report.JobMs = w
	l := data.LatencyByStatus[200]
	row.Values["p50_ms"], row.Values["p99_ms"], row.Values["w_ms"], row.Values["rate_rps"] = l.P50, l.P99, w, rate
	row.Pass = l.P50 <= w+1 && l.P99 <= 2*w+2 && data.Outcomes.Errors() == 0 && len(data.Outcomes.Status) == 1
	row.Measured = fmt.Sprintf("p50 %.2f ms (≤ %.2f), p99 %.2f ms (≤ %.2f) at %.0f req/s", l.P50, w+1, l.P99, 2*w+2, rate)
	row.Notes = append(row.Notes, fmt.Sprintf("capacity %.0f/s measured on the same server just before; statuses %v; W %.2f ms over %.0f jobs",
		2*rate, data.Outcomes.Status, w, jobs))
	return nil
}
