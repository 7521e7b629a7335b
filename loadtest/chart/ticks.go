package chart

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// niceTicks places about want labelled ticks at round values (steps of 1,
// 2, 2.5 or 5 times a power of ten). plot.DefaultTicks aims for three
// labels, which leaves too few gridlines to read values off a panel.
type niceTicks struct{ want int }

// Ticks implements plot.Ticker.
func (n niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return plot.DefaultTicks{}.Ticks(lo, max(hi, lo+1))
	}
	want := max(n.want, 2)
	mag := math.Pow(10, math.Floor(math.Log10((hi-lo)/float64(want))))
	// Of the round steps, take the one whose tick count is closest to
	// want, preferring fewer ticks on a tie.
	step, fraction, bestMiss := 0.0, false, math.Inf(1)
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		st := f * mag
		count := math.Floor(hi/st+1e-9) - math.Ceil(lo/st-1e-9) + 1
		if miss := math.Abs(count - float64(want)); miss <= bestMiss {
			step, fraction, bestMiss = st, f == 2.5, miss
		}
	}
	prec := max(0, -int(math.Floor(math.Log10(step))))
	if fraction && step < 10 {
		prec++
	}
	var ticks []plot.Tick
	// Index from an integer so float steps do not accumulate error.
	for i := math.Ceil(lo / step); i*step <= hi+step*1e-9; i++ {
		ticks = append(ticks, plot.Tick{Value: i * step, Label: strconv.FormatFloat(i*step, 'f', prec, 64)})
	}
	return ticks
}
