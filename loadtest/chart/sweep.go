package chart

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

const sweepPanelHeight vg.Length = 250

// SweepPoint is one measurement of a pool-size sweep.
type SweepPoint struct {
	Series     string  // the line, such as "offload" or "offload, wrk"
	Pool       int     // the worker pool size, >= 0
	Throughput float64 // requests per second
	P99        time.Duration
}

// Sweep writes a chart of two panels sharing the pool-size axis,
// throughput on top and p99 latency below, a line per Series. The pool axis
// has a tick at every pool size, and is logarithmic when that spaces them
// more evenly.
func Sweep(path, title string, points []SweepPoint) error {
	if title == "" {
		return fmt.Errorf("chart %s: empty title; say what was measured", path)
	}
	if len(points) == 0 {
		return fmt.Errorf("chart %s: no sweep points to plot", path)
	}
	var order []string
	var pools []int
	var maxRate, maxP99 float64
	bySeries := map[string][]SweepPoint{}
	index := map[[2]any]int{}
	for i, pt := range points {
		if err := checkSweepPoint(pt); err != nil {
			return fmt.Errorf("chart %s: point %d: %w", path, i, err)
		}
		key := [2]any{pt.Series, pt.Pool}
		if j, dup := index[key]; dup {
			return fmt.Errorf("chart %s: series %q has two points for pool size %d (points %d and %d)", path, pt.Series, pt.Pool, j, i)
		}
		index[key] = i
		if _, ok := bySeries[pt.Series]; !ok {
			order = append(order, pt.Series)
		}
		bySeries[pt.Series] = append(bySeries[pt.Series], pt)
		pools = append(pools, pt.Pool)
		maxRate, maxP99 = max(maxRate, pt.Throughput), max(maxP99, ms(pt.P99))
	}
	slices.Sort(pools)
	pools = slices.Compact(pools)
	top := newPlot("Throughput", "", "Throughput (req/s)")
	bottom := newPlot("p99 latency", "Worker pool size (workers)", "p99 latency (ms)")
	legend := newLegend()
	setPoolAxis(&top.X, pools)
	setPoolAxis(&bottom.X, pools)
	setValueRange(&top.Y, 0, maxRate)
	setValueRange(&bottom.Y, 0, maxP99)
	for s, name := range order {
		pts := bySeries[name]
		slices.SortFunc(pts, func(a, b SweepPoint) int { return a.Pool - b.Pool })
		rate := make(plotter.XYs, len(pts))
		p99 := make(plotter.XYs, len(pts))
		for i, pt := range pts {
			rate[i] = plotter.XY{X: float64(pt.Pool), Y: pt.Throughput}
			p99[i] = plotter.XY{X: float64(pt.Pool), Y: ms(pt.P99)}
		}
		if err := errors.Join(addLine(top, legend, name, s, rate), addLine(bottom, nil, name, s, p99)); err != nil {
			return fmt.Errorf("chart %s: %w", path, err)
		}
	}
	return render(path, title, sweepPanelHeight, []panel{{top, legend}, {bottom, nil}})
}

func checkSweepPoint(pt SweepPoint) error {
	switch {
	case pt.Series == "":
		return errors.New("empty Series name")
	case pt.Pool < 0:
		return fmt.Errorf("series %q: negative pool size %d", pt.Series, pt.Pool)
	case pt.P99 < 0:
		return fmt.Errorf("series %q pool %d: negative p99 %v", pt.Series, pt.Pool, pt.P99)
	case !finite(pt.Throughput) || pt.Throughput < 0:
		return fmt.Errorf("series %q pool %d: throughput %v must be a finite number >= 0", pt.Series, pt.Pool, pt.Throughput)
	}
	return nil
}

// setPoolAxis puts a tick at every pool size and labels those at least
// 1/maxLabels of the axis from the last label, and always the largest.
func setPoolAxis(a *plot.Axis, pools []int) {
	lo, hi := pools[0], pools[len(pools)-1]
	a.Min, a.Max = float64(lo), float64(hi)
	if lo >= 1 && len(pools) >= 3 && minGap(plot.LogScale{}, pools) > minGap(plot.LinearScale{}, pools) {
		a.Scale = plot.LogScale{}
	}
	if lo == hi {
		// A single pool size: keep it centred rather than at an edge.
		a.Min, a.Max = float64(lo)-1, float64(hi)+1
	}
	const maxLabels = 14
	pos := func(p int) float64 { return a.Scale.Normalize(a.Min, a.Max, float64(p)) }
	ticks := make(plot.ConstantTicks, len(pools))
	prev := -1 // index of the last labelled tick
	for i, p := range pools {
		ticks[i] = plot.Tick{Value: float64(p)}
		if prev < 0 || pos(p)-pos(pools[prev]) >= 1.0/maxLabels {
			ticks[i].Label = strconv.Itoa(p)
			prev = i
		}
	}
	last := len(pools) - 1
	if prev != last {
		// The largest, dropping the label before it if they would collide.
		if pos(pools[last])-pos(pools[prev]) < 1.0/maxLabels && prev > 0 {
			ticks[prev].Label = ""
		}
		ticks[last].Label = strconv.Itoa(pools[last])
	}
	a.Tick.Marker = ticks
}

// minGap is the smallest distance between neighbouring pool sizes along a
// unit axis with scale s: the larger one wins (log for 1, 2, 4, ... 64).
func minGap(s plot.Normalizer, pools []int) float64 {
	lo, hi := float64(pools[0]), float64(pools[len(pools)-1])
	gap := math.Inf(1)
	for i := 1; i < len(pools); i++ {
		gap = min(gap, s.Normalize(lo, hi, float64(pools[i]))-s.Normalize(lo, hi, float64(pools[i-1])))
	}
	return gap
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
