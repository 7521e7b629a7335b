package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"offload/config"
	"offload/loadtest"
	"offload/loadtest/observe"
	"offload/metrics"
)

// SoakConfig says how long and how hard to soak the server.
type SoakConfig struct {
	// Server is the offload binary.
	Server string
	// Procs is the server's GOMAXPROCS; 0 means every CPU.
	Procs int
	// Duration of the load (default 10 minutes), at Load times the
	// measured capacity (default 0.8).
	Duration time.Duration
	Load     float64
	// BurstEvery is the time between abuse bursts (default 30 s), each of
	// BurstSize slowloris connections and as many that reset mid-request
	// (default 200).
	BurstEvery time.Duration
	BurstSize  int
	// SampleEvery is the time between samples of the server's goroutines,
	// descriptors and memory (default 10 s).
	SampleEvery time.Duration
	// Progress receives a line per sample; nil for none.
	Progress io.Writer
}

// Sample is the server's resource use at one moment.
type Sample struct {
	At         float64 `json:"t_s"`
	Goroutines float64 `json:"goroutines"`
	FDs        float64 `json:"open_fds"`
	RSSMB      float64 `json:"rss_mb"`
	Active     float64 `json:"connections_active"`
}

// SoakReport is the outcome of a soak.
type SoakReport struct {
	Machine    observe.Machine `json:"machine"`
	Capacity   float64         `json:"capacity_rps"`
	Rate       float64         `json:"rate_rps"`
	DurationS  float64         `json:"duration_s"`
	IdleBefore Sample          `json:"idle_before"`
	// EarlyPeak and LatePeak are the samples with the most resident
	// memory in the first and the last third of the loaded run after its
	// warm-up: both see bursts, so peaks compare like with like.
	EarlyPeak  Sample        `json:"early_peak"`
	LatePeak   Sample        `json:"late_peak"`
	IdleAfter  Sample        `json:"idle_after"`
	Samples    []Sample      `json:"samples"`
	Requests   int64         `json:"requests"`
	Status     map[int]int64 `json:"status"`
	Unanswered int64         `json:"unanswered"`
	P99Ms      float64       `json:"p99_ms"`
	Bursts     int           `json:"bursts"`
	Checks     []string      `json:"checks"`
	Pass       bool          `json:"pass"`
}

func (c *SoakConfig) defaults() {
	c.Procs = cmp.Or(c.Procs, runtime.NumCPU())
	c.Duration = cmp.Or(c.Duration, 10*time.Minute)
	c.Load = cmp.Or(c.Load, 0.8)
	c.BurstEvery = cmp.Or(c.BurstEvery, 30*time.Second)
	c.BurstSize = cmp.Or(c.BurstSize, 200)
	c.SampleEvery = cmp.Or(c.SampleEvery, 10*time.Second)
}

// Soak runs the server at a steady fraction of its capacity for a long
// time while abusive clients come and go, and checks that its goroutines,
// descriptors and memory stay flat and that every request is answered.
func Soak(ctx context.Context, cfg SoakConfig) (rep *SoakReport, err error) {
	cfg.defaults()
	if err := observe.CheckBinary(cfg.Server); err != nil {
		return nil, err
	}
	srv, err := observe.Start(ctx, observe.Config{Binary: cfg.Server, Server: config.Default(), Procs: cfg.Procs})
	if err != nil {
		return nil, err
	}
	defer func() { err = stop(ctx, srv, err) }()
	rep = &SoakReport{Machine: observe.Describe(ctx), DurationS: cfg.Duration.Seconds()}
	start := time.Now()
	sample := func() (Sample, error) {
		s, err := srv.Snapshot(ctx)
		if err != nil {
			return Sample{}, err
		}
		return Sample{
			At: s.At.Sub(start).Seconds(), Goroutines: s.Metrics["go_goroutines"], FDs: float64(s.FDs),
			RSSMB: float64(s.RSS) / 1e6, Active: s.Metrics[metrics.ConnectionsActive],
		}, nil
	}
	settle := func() (Sample, error) {
		// fasthttp lets idle connection goroutines linger up to 4 s.
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return Sample{}, ctx.Err()
		}
		return sample()
	}

	if rep.Capacity, err = capacity(ctx, srv, cfg.Procs, time.Second, 5*time.Second); err != nil {
		return rep, err
	}
	rep.Rate = rep.Capacity * cfg.Load
	if rep.IdleBefore, err = settle(); err != nil {
		return rep, err
	}

	loadCtx, stopAbuse := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var loadRes *loadtest.Result
	var loadErr error
	loadDone := make(chan struct{})
	wg.Go(func() {
		defer close(loadDone)
		loadRes, loadErr = loadtest.Run(ctx, loadtest.Config{
			URL: srv.URL("/data"), Rates: []float64{rep.Rate}, Duration: cfg.Duration, MaxInflight: 10000, Timeout: 10 * time.Second,
		})
	})
	wg.Go(func() {
		tick := time.NewTicker(cfg.BurstEvery)
		defer tick.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
				rep.Bursts++
				abuse(loadCtx, srv.Addr(), cfg.BurstSize)
			}
		}
	})
	tick := time.NewTicker(cfg.SampleEvery)
	for running := true; running; {
		select {
		case <-loadDone:
			running = false
		case <-tick.C:
			s, err := sample()
			if err != nil {
				continue // a failed scrape is not the server's failure; the next one counts
			}
			rep.Samples = append(rep.Samples, s)
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "soak: %4.0fs goroutines %.0f fds %.0f rss %.1f MB connections %.0f\n", s.At, s.Goroutines, s.FDs, s.RSSMB, s.Active)
			}
		}
	}
	tick.Stop()
	stopAbuse()
	wg.Wait()
	if loadErr != nil {
		return rep, fmt.Errorf("soak load: %w", loadErr)
	}
	if rep.IdleAfter, err = settle(); err != nil {
		return rep, err
	}
	rep.Requests, rep.Status, rep.P99Ms = loadRes.Requests, loadRes.Outcomes.Status, loadRes.Latency.P99
	rep.Unanswered = loadRes.Outcomes.Errors() + loadRes.Outcomes.Missed
	rep.judge()
	return rep, nil
}

// judge decides pass or fail: memory under load peak against peak, the
// first third against the last after a warm-up (a fifth, at least 30 s,
// while the heap grows), and idle state before against after.
func (r *SoakReport) judge() {
	warm := max(30, r.DurationS/5)
	var loaded []Sample
	for _, s := range r.Samples {
		if s.At-r.Samples[0].At >= min(warm, r.DurationS/4) {
			loaded = append(loaded, s)
		}
	}
	if len(loaded) < 3 {
		r.Checks = append(r.Checks, "FAIL: fewer than 3 samples under load")
		return
	}
	third := len(loaded) / 3
	r.EarlyPeak, r.LatePeak = peak(loaded[:third]), peak(loaded[len(loaded)-third:])
	r.Pass = true
	check := func(ok bool, format string, args ...any) {
		verdict := "ok"
		if !ok {
			verdict, r.Pass = "FAIL", false
		}
		r.Checks = append(r.Checks, verdict+": "+fmt.Sprintf(format, args...))
	}
	check(r.Unanswered == 0, "unanswered requests: %d", r.Unanswered)
	check(r.LatePeak.RSSMB <= 1.2*r.EarlyPeak.RSSMB, "peak RSS under load, first third %.1f MB, last third %.1f MB (≤ 1.2×)", r.EarlyPeak.RSSMB, r.LatePeak.RSSMB)
	// Idle, the server holds its listeners and a few runtime goroutines;
	// the runtime adds a GC worker per P after the first collection.
	check(r.IdleAfter.Goroutines <= r.IdleBefore.Goroutines+5, "idle goroutines %.0f → %.0f (≤ +5)", r.IdleBefore.Goroutines, r.IdleAfter.Goroutines)
	check(r.IdleAfter.FDs <= r.IdleBefore.FDs+2, "idle open fds %.0f → %.0f (≤ +2)", r.IdleBefore.FDs, r.IdleAfter.FDs)
	check(r.IdleAfter.Active <= 1, "connections open when idle: %.0f (the scrape's own)", r.IdleAfter.Active)
}

// peak is the first of the samples with the most resident memory.
func peak(samples []Sample) Sample {
	return slices.MaxFunc(samples, func(a, b Sample) int { return cmp.Compare(a.RSSMB, b.RSSMB) })
}

// abuse opens n slowloris connections that trickle a header byte per
// second until the server closes them, and n that send a request and
// reset at once, and returns when all have ended.
func abuse(ctx context.Context, addr string, n int) {
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Go(func() {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			if i%2 == 1 {
				_, _ = io.WriteString(c, "GET /data HTTP/1.1\r\nHost: soak\r\n\r\n")
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // close with RST
				}
				return
			}
			trickle(ctx, c, "GET /healthz HTTP/1.1\r\nHost: soak\r\nX-Slow: "+strings.Repeat("s", 100))
		})
	}
	wg.Wait()
}

// trickle writes msg a byte per second until a write fails, msg runs
// out, or ctx ends.
func trickle(ctx context.Context, c net.Conn, msg string) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := range len(msg) {
		if _, err := c.Write([]byte{msg[i]}); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
