package chart

import (
	"math"
	"strconv"
	"strings"

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
	long := false
	// Index from an integer so float steps do not accumulate error.
	for i := math.Ceil(lo / step); i*step <= hi+step*1e-9; i++ {
		v := i * step
		label := strconv.FormatFloat(v, 'f', prec, 64)
		long = long || len(strings.TrimPrefix(label, "-")) > 4 && math.Abs(v) >= 1e4
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
	}
	if long {
		// Group every label of the axis, or "7500" would sit next to
		// "10,000" in two styles.
		for i := range ticks {
			ticks[i].Label = groupDigits(ticks[i].Label)
		}
	}
	return ticks
}

// groupDigits inserts thousands separators into a formatted number, so
// that 120000 req/s reads as "120,000" at a glance.
func groupDigits(s string) string {
	sign, digits := "", s
	if strings.HasPrefix(s, "-") {
		sign, digits = "-", s[1:]
	}
	end := strings.IndexByte(digits+".", '.') // the whole part's end
	whole := digits[:end]
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	return sign + whole + digits[end:]
}
