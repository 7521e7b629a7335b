package work

import (
	"fmt"
	"math"
	"slices"
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

// Calibrate measures the cost of one iteration by timing rounds of about a
// millisecond of work for about budget in total. On a shared machine the
// same round can take anywhere from its best time to twice that from one
// moment to the next; the median round is what a request will typically
// cost, where the fastest would understate it by a third or more.
func Calibrate(budget time.Duration) (Calibration, error) {
	const perRound = 100_000
	var (
		s      Scratch
		buf    []byte
		rounds []time.Duration
		start  = time.Now()
	)
	for len(rounds) < 9 || time.Since(start) < budget {
		t := time.Now()
		buf = Compute(buf[:0], perRound, &s)
		rounds = append(rounds, time.Since(t))
	}
	slices.Sort(rounds)
	median := rounds[len(rounds)/2]
	if median <= 0 {
		return Calibration{}, fmt.Errorf("calibrate work: %d iterations took %v, the clock is too coarse", perRound, median)
	}
	return Calibration{NanosPerIteration: float64(median.Nanoseconds()) / perRound}, nil
}
