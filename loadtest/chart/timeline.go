package chart

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

const timelinePanelHeight vg.Length = 190

// Point is one sample of a timeline.
type Point struct {
	// T is the time since the start of the run.
	T time.Duration
	// V is the sampled value, in the panel's YLabel unit.
	V float64
}

// Line is one series of a timeline panel.
type Line struct {
	// Label names the line in the panel's legend.
	Label string
	// Points are the samples in increasing time order.
	Points []Point
}

// TimelinePanel is one panel of a timeline chart.
type TimelinePanel struct {
	// Title names what the panel shows, such as the mode.
	Title string
	// YLabel is the y axis label, with its unit, such as "requests/s".
	YLabel string
	// Lines are drawn in order, each with an entry in the panel's legend.
	Lines []Line
}

// Timeline writes a chart of the panels stacked top to bottom over a shared
// time axis in seconds since the start. A line label keeps the same colour,
// dash and marker in every panel, so "completed/s" in the offload panel
// matches "completed/s" in the inline panel. Points must be in increasing
// time order.
func Timeline(path, title string, panels []TimelinePanel) error {
	if title == "" {
		return fmt.Errorf("chart %s: empty title; say what was measured", path)
	}
	if len(panels) == 0 {
		return fmt.Errorf("chart %s: no timeline panels to plot", path)
	}
	var end time.Duration
	for i, pn := range panels {
		if err := checkPanel(pn); err != nil {
			return fmt.Errorf("chart %s: panel %d (%q): %w", path, i, pn.Title, err)
		}
		for _, l := range pn.Lines {
			end = max(end, l.Points[len(l.Points)-1].T)
		}
	}

	styles := map[string]int{}
	out := make([]panel, len(panels))
	for i, pn := range panels {
		xLabel := ""
		if i == len(panels)-1 {
			xLabel = "Time since start (s)"
		}
		p := newPlot(pn.Title, xLabel, pn.YLabel)
		p.X.Min, p.X.Max = 0, end.Seconds()
		legend := newLegend()
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, l := range pn.Lines {
			style, ok := styles[l.Label]
			if !ok {
				style = len(styles)
				styles[l.Label] = style
			}
			xys := make(plotter.XYs, len(l.Points))
			for j, pt := range l.Points {
				xys[j] = plotter.XY{X: pt.T.Seconds(), Y: pt.V}
				lo, hi = min(lo, pt.V), max(hi, pt.V)
			}
			if err := addLine(p, legend, l.Label, style, xys); err != nil {
				return fmt.Errorf("chart %s: panel %d: %w", path, i, err)
			}
		}
		setValueRange(&p.Y, lo, hi)
		out[i] = panel{plot: p, legend: legend}
	}
	return render(path, title, timelinePanelHeight, out)
}

func checkPanel(pn TimelinePanel) error {
	if pn.Title == "" {
		return errors.New("empty Title")
	}
	if pn.YLabel == "" {
		return errors.New("empty YLabel; give the quantity and its unit")
	}
	if len(pn.Lines) == 0 {
		return errors.New("no lines")
	}
	labels := map[string]bool{}
	for _, l := range pn.Lines {
		if l.Label == "" {
			return errors.New("a line has an empty Label")
		}
		if labels[l.Label] {
			return fmt.Errorf("two lines labelled %q", l.Label)
		}
		labels[l.Label] = true
		if len(l.Points) == 0 {
			return fmt.Errorf("line %q has no points", l.Label)
		}
		for j, pt := range l.Points {
			switch {
			case !finite(pt.V):
				return fmt.Errorf("line %q point %d: value is %v, want a finite number", l.Label, j, pt.V)
			case pt.T < 0:
				return fmt.Errorf("line %q point %d: negative time %v", l.Label, j, pt.T)
			case j > 0 && pt.T <= l.Points[j-1].T:
				return fmt.Errorf("line %q point %d: time %v is not after the previous point's %v", l.Label, j, pt.T, l.Points[j-1].T)
			}
		}
	}
	return nil
}
