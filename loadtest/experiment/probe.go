package experiment

import (
	"context"
	"fmt"
	"time"

	"offload/loadtest"
)

// probeConfig is a /healthz probe.
type probeConfig struct {
	url                       string
	rate                      float64 // 0: no probe
	warmup, duration, timeout time.Duration
}

// startProbe runs an open loop against /healthz with a new connection per
// request, so that each probe also goes through the accept path, in its own
// goroutine. The wait it returns, to be called once, waits for the end and
// returns the probes' p99 in ms (nil if the probe was off or got no answer)
// and how many got no 200.
func startProbe(ctx context.Context, pc probeConfig) (wait func() (p99 *float64, failed int64, err error)) {
	if pc.rate <= 0 {
		return func() (*float64, int64, error) { return nil, 0, nil }
	}
	done := make(chan struct{})
	var res *loadtest.Result
	var err error
	go func() {
		defer close(done)
		res, err = loadtest.Run(ctx, loadtest.Config{
			URL: pc.url, Rates: []float64{pc.rate}, Close: true,
			Warmup: pc.warmup, Duration: pc.duration, Timeout: pc.timeout,
		})
	}()
	return func() (p99 *float64, failed int64, _ error) {
		<-done
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
