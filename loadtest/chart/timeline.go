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

// Point is one sample of a timeline: time since the start, and value.
type Point struct {
	T time.Duration
	V float64
}

// Line is one series of a timeline panel, its points in time order.
type Line struct {
	Label  string
	Points []Point
}

// TimelinePanel is one panel of a timeline chart; YLabel names the unit.
type TimelinePanel struct {
	Title, YLabel string
	Lines         []Line
}

// Timeline writes a chart of the panels stacked over a shared time axis.
// A line label keeps its colour, dash and marker in every panel.
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
