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

// probe is a running /healthz probe.
type probe struct {
	done chan struct{}
	res  *loadtest.Result
	err  error
}

// startProbe runs an open loop against /healthz with a new connection per
// request, so that each probe also goes through the accept path, in its own
// goroutine. Call wait exactly once.
func startProbe(ctx context.Context, pc probeConfig) *probe {
	p := &probe{done: make(chan struct{})}
	if pc.rate <= 0 {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		res, err := loadtest.Run(ctx, loadtest.Config{
			URL:      pc.url,
			Rates:    []float64{pc.rate},
			Close:    true,
			Warmup:   pc.warmup,
			Duration: pc.duration,
			Timeout:  pc.timeout,
		})
		if err != nil {
			p.err = fmt.Errorf("healthz probe: %w", err)
			return
		}
		p.res = res
	}()
	return p
}

// wait returns the probe's result, nil if it was disabled.
func (p *probe) wait() (*loadtest.Result, error) {
	<-p.done
	return p.res, p.err
}

func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

func durationMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ptr[T any](v T) *T { return &v }
