package experiment

import (
	"context"
	"fmt"
	"time"

	"offload/loadtest"
	"offload/loadtest/wrk"
)

// ClosedLoop drives the closed loop cfg describes with engine e and
// returns its figures in a sweep row. wrk runs with wrkThreads threads,
// rounds Duration to whole seconds and Warmup and Timeout up, and runs the
// warmup as a discarded run of its own.
func ClosedLoop(ctx context.Context, e Engine, wrkThreads int, cfg loadtest.Config) (Row, error) {
	if e == Wrk {
		return closedWrk(ctx, wrkThreads, cfg)
	}
	res, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return Row{}, fmt.Errorf("built-in load generator: %w", err)
	}
	if res.Interrupted {
		return Row{}, fmt.Errorf("built-in load generator: %w", context.Cause(ctx))
	}
	row := Row{
		Requests: res.Answered, Throughput: res.Throughput, ElapsedS: res.ElapsedSeconds,
		P50Ms: res.Latency.P50, P99Ms: res.Latency.P99, P999Ms: res.Latency.P999,
		Status503: res.Outcomes.Status[503], Errors: res.Outcomes.Errors(),
	}
	for code, n := range res.Outcomes.Status {
		if code != 503 && (code < 200 || code > 299) {
			row.Errors += n
		}
	}
	return row, nil
}

// closedWrk is ClosedLoop with wrk.
func closedWrk(ctx context.Context, threads int, cfg loadtest.Config) (Row, error) {
	opts := wrk.Options{
		Threads: threads, Connections: cfg.Connections, Close: cfg.Close, Timeout: ceilSecond(cfg.Timeout), URL: cfg.URL,
	}
	if cfg.Warmup > 0 {
		warm := opts
		warm.Duration = ceilSecond(cfg.Warmup)
		if _, _, err := wrk.Run(ctx, warm); err != nil {
			return Row{}, fmt.Errorf("wrk warmup: %w", err)
		}
	}
	opts.Duration = max(time.Second, cfg.Duration.Round(time.Second))
	res, out, err := wrk.Run(ctx, opts)
	if err != nil {
		return Row{}, err
	}
	// wrk counts every status >= 400 together; /data answers 200 or 503.
	return Row{
		Requests: res.Requests, Throughput: res.RequestsPerSec(), ElapsedS: res.Runtime.Seconds(),
		P50Ms: durationMs(res.Latency.P50), P99Ms: durationMs(res.Latency.P99), P999Ms: durationMs(res.Latency.P99_9),
		Status503: res.Errors.Status, Errors: res.Errors.Socket(), WrkOutput: out,
	}, nil
}

// StartLoad runs the load cfg describes in its own goroutine; the wait it
// returns, to be called once, returns its result.
func StartLoad(ctx context.Context, cfg loadtest.Config) (wait func() (*loadtest.Result, error)) {
	done := make(chan struct{})
	var res *loadtest.Result
	var err error
	go func() {
		defer close(done)
		res, err = loadtest.Run(ctx, cfg)
	}()
	return func() (*loadtest.Result, error) {
		<-done
		return res, err
	}
}

// startProbe starts cfg as an open loop at rate (0 for none) with a new
// connection per request, so that each probe goes through the accept path.
// The wait it returns gives the p99 in ms (nil if there was no answer) and
// how many got no 200.
func startProbe(ctx context.Context, rate float64, cfg loadtest.Config) (
	wait func() (p99 *float64, failed int64, err error)) {
	if rate <= 0 {
		return func() (*float64, int64, error) { return nil, 0, nil }
	}
	cfg.Rates, cfg.Close = []float64{rate}, true
	waitLoad := StartLoad(ctx, cfg)
	return func() (p99 *float64, failed int64, _ error) {
		res, err := waitLoad()
		if err != nil {
			return nil, 0, fmt.Errorf("healthz probe: %w", err)
		}
		if res.Answered > 0 {
			p99 = ptr(res.Latency.P99)
		}
		return p99, res.Requests - res.Outcomes.Status[200], nil
	}
}

func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

func durationMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ptr[T any](v T) *T { return &v }
