package work

import (
	"fmt"
	"math"
	"time"
)

// Calibration converts durations of CPU work into iteration counts. It is
// measured once at start-up on the machine that serves.
type Calibration struct {
	// NanosPerIteration is the single-core cost of one iteration.
	NanosPerIteration float64
}

// Iterations returns how many iterations take d of CPU time on one core.
// A positive d always yields at least one iteration.
func (c Calibration) Iterations(d time.Duration) int {
	if d <= 0 || c.NanosPerIteration <= 0 {
		return 0
	}
	return max(1, int(math.Round(float64(d.Nanoseconds())/c.NanosPerIteration)))
}

// Duration is the inverse of Iterations: the CPU time of n iterations.
func (c Calibration) Duration(n int) time.Duration {
	return time.Duration(float64(n) * c.NanosPerIteration)
}

// Calibrate measures the cost of one iteration by timing rounds of work for
// about budget in total. The machine may be shared and noisy; the fastest
// round is the one least disturbed by other processes, so it is the best
// estimate of the work's own cost.
func Calibrate(budget time.Duration) (Calibration, error) {
	const perRound = 20_000
	var (
		s     Scratch
		buf   []byte
		best  = time.Duration(math.MaxInt64)
		start = time.Now()
	)
	for rounds := 0; rounds < 5 || time.Since(start) < budget; rounds++ {
		t := time.Now()
		buf = Compute(buf[:0], perRound, &s)
		if d := time.Since(t); d < best {
			best = d
		}
	}
	if best <= 0 {
		return Calibration{}, fmt.Errorf("calibrate work: %d iterations took %v, the clock is too coarse", perRound, best)
	}
	return Calibration{NanosPerIteration: float64(best.Nanoseconds()) / perRound}, nil
}
