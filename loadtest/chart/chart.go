// Package chart draws the experiment charts of the offload kit with
// gonum.org/v1/plot: a pool-size sweep and timelines, each a stack of
// panels sharing the x axis with the legends in a column to the right. The
// file extension picks the format: .png (at 144 dpi), .svg, or another
// that gonum plot can save.
package chart

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure geometry, in points (1/72 inch) like every length here.
const (
	figureWidth vg.Length = 648 // 9 in
	titleHeight vg.Length = 40
	outerPad    vg.Length = 10
	legendGap   vg.Length = 14
)

const (
	pngDPI       = 144 // 2 pixels per point, sharp when zoomed
	legendWrap   = 22  // the longest legend line, in bytes
	markerMaxPts = 40  // beyond it markers smear into a thick line
)

// panel is one plot of a figure and the legend drawn beside it.
type panel struct {
	plot   *plot.Plot
	legend *plot.Legend // nil for no legend beside this panel
}

// seriesStyle returns the style of the i-th series: the Okabe-Ito
// colour-blind-safe palette, and dashes and markers for grey-scale print.
func seriesStyle(i int) (draw.LineStyle, draw.GlyphStyle) {
	colours := []color.RGBA{
		{0x00, 0x72, 0xB2, 0xFF}, // blue
		{0xD5, 0x5E, 0x00, 0xFF}, // vermillion
		{0x00, 0x9E, 0x73, 0xFF}, // bluish green
		{0xCC, 0x79, 0xA7, 0xFF}, // reddish purple
		{0xE6, 0x9F, 0x00, 0xFF}, // orange
		{0x56, 0xB4, 0xE9, 0xFF}, // sky blue
		{0x00, 0x00, 0x00, 0xFF}, // black
	}
	dashes := [][]vg.Length{nil, {7, 3}, {2, 2.5}, {8, 3, 2, 3}}
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.BoxGlyph{}, draw.RingGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{}}
	c := colours[i%len(colours)]
	line := draw.LineStyle{Color: c, Width: 2, Dashes: dashes[i%len(dashes)]}
	glyph := draw.GlyphStyle{Color: c, Radius: 3.5, Shape: shapes[i%len(shapes)]}
	return line, glyph
}

func sans(size vg.Length, bold bool) font.Font {
	f := font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
	if bold {
		f.Weight = xfont.WeightBold
	}
	return f
}

// newPlot returns a plot with the package's fonts, axis labels and a light
// grid behind the data.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sans(13, true)
	p.Title.Padding = 6
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(12, false)
		a.Tick.Label.Font = sans(11, false)
		a.Label.Padding = 4
		a.Tick.Marker = niceTicks{want: 6}
	}
	grid := plotter.NewGrid()
	grid.Vertical = draw.LineStyle{Color: color.Gray{Y: 0xDD}, Width: 0.75}
	grid.Horizontal = grid.Vertical
	p.Add(grid)
	return p
}

func newLegend() *plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = sans(12, false)
	l.Top, l.Left = true, true
	l.ThumbnailWidth = 34
	l.Padding = 5
	return &l
}

// addLine adds one series to p, with markers when it has few points, and
// its entry to legend.
func addLine(p *plot.Plot, legend *plot.Legend, label string, style int, xys plotter.XYs) error {
	ls, gs := seriesStyle(style)
	line, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("series %q: %w", label, err)
	}
	line.LineStyle = ls
	p.Add(line)
	thumbs := []plot.Thumbnailer{line}
	if len(xys) <= markerMaxPts {
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("series %q: %w", label, err)
		}
		sc.GlyphStyle = gs
		p.Add(sc)
		thumbs = append(thumbs, sc)
	}
	if legend != nil {
		legend.Add(wrapLabel(label, legendWrap), thumbs...)
	}
	return nil
}

// wrapLabel breaks s at spaces into lines of at most width bytes where it
// can, so that a long name cannot squeeze the panels.
func wrapLabel(s string, width int) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), "\n")
}

// newCanvas returns a canvas for the format named by path's extension.
func newCanvas(path string, w, h vg.Length) (vg.CanvasWriterTo, error) {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	switch ext {
	case "":
		return nil, fmt.Errorf("chart %s: no file extension to choose the format from (use .png or .svg)", path)
	case "png":
		// plot's own png canvas is 96 dpi, which makes small text blurry.
		return vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))}, nil
	case "svg":
		// Without embedded fonts a viewer lacking Liberation Sans falls
		// back to another font, and labels no longer fit their boxes.
		return vgsvg.NewWith(vgsvg.UseWH(w, h), vgsvg.EmbedFonts(true)), nil
	}
	c, err := draw.NewFormattedCanvas(w, h, ext)
	if err != nil {
		return nil, fmt.Errorf("chart %s: file extension .%s: %w (use .png or .svg)", path, ext, err)
	}
	return c, nil
}

// render lays out the panels top to bottom under the figure title, each
// panel's legend in a column on the right, and writes the figure to path.
func render(path, title string, panelHeight vg.Length, panels []panel) error {
	height := titleHeight + vg.Length(len(panels))*panelHeight + outerPad
	c, err := newCanvas(path, figureWidth, height)
	if err != nil {
		return err
	}
	dc := draw.New(c)

	titleStyle := plot.New().Title.TextStyle
	titleStyle.Font = sans(16, true)
	titleStyle.YAlign = draw.YCenter
	dc.FillText(titleStyle, vg.Point{X: figureWidth / 2, Y: height - titleHeight/2}, title)

	var legendWidth vg.Length
	for _, pn := range panels {
		if pn.legend != nil {
			r := pn.legend.Rectangle(draw.Canvas{})
			legendWidth = max(legendWidth, r.Max.X-r.Min.X)
		}
	}
	if legendWidth > 0 {
		legendWidth += legendGap
	}
	body := draw.Crop(dc, outerPad, -outerPad-legendWidth, outerPad, -titleHeight)
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		plots[i] = []*plot.Plot{pn.plot}
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: 18}
	canvases := plot.Align(plots, tiles, body)
	for i, pn := range panels {
		pn.plot.Draw(canvases[i][0])
		if pn.legend == nil {
			continue
		}
		// Start the legend level with the top of the panel's data area,
		// below its title.
		data := pn.plot.DataCanvas(canvases[i][0])
		pn.legend.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: figureWidth - outerPad - legendWidth + legendGap, Y: data.Min.Y},
			Max: vg.Point{X: figureWidth - outerPad, Y: data.Max.Y},
		}})
	}

	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return fmt.Errorf("chart: writing %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o666); err != nil {
		_ = os.Remove(path) // a half-written chart would look valid to a directory listing
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// setValueRange starts the y axis at zero for non-negative values, as a
// floating baseline exaggerates small differences, and leaves headroom
// above the highest marker.
func setValueRange(a *plot.Axis, lo, hi float64) {
	lo = min(lo, 0)
	span := hi - lo
	if span <= 0 {
		span = math.Max(math.Abs(hi), 1)
	}
	a.Min, a.Max = lo, hi+0.08*span
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
