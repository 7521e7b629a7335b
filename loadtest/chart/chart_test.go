package chart

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
)

// sweepData is a plausible sweep on a 2-core machine: offload throughput
// grows until the pool covers the cores and then flattens while p99 grows
// with queueing; inline ignores the pool size.
func sweepData() []SweepPoint {
	var pts []SweepPoint
	for _, pool := range []int{1, 2, 4, 8, 16, 32, 64} {
		sat := math.Min(float64(pool), 2) / 2
		over := math.Log2(float64(pool))
		pts = append(pts,
			SweepPoint{Series: "offload", Pool: pool, Throughput: 4200 + 4600*sat - 40*over,
				P99: time.Duration((3.5 + 0.9*over) * float64(time.Millisecond))},
			SweepPoint{Series: "inline", Pool: pool, Throughput: 8300 + 60*math.Sin(float64(pool)),
				P99: time.Duration((2.8 + 0.1*math.Cos(float64(pool))) * float64(time.Millisecond))},
			SweepPoint{Series: "offload (wrk)", Pool: pool, Throughput: 4500 + 4900*sat - 30*over,
				P99: time.Duration((3.1 + 0.8*over) * float64(time.Millisecond))},
		)
	}
	return pts
}

// timelineData is 30s sampled every 250ms: the offload server accepts
// faster than it completes during a burst and the queue absorbs the
// difference; the inline server's accept rate follows its completions.
func timelineData() []TimelinePanel {
	var offAcc, offDone, inAcc, inDone, queue []Point
	depth := 0.0
	for i := 0; i <= 120; i++ {
		t := time.Duration(i) * 250 * time.Millisecond
		burst := 0.0
		if s := t.Seconds(); s >= 10 && s < 20 {
			burst = 3000
		}
		acc := 8000 + burst + 300*math.Sin(float64(i)/3)
		done := acc
		if depth > 0 || acc > 9200 {
			// The pool drains the queue at its capacity.
			done = 9200 + 100*math.Cos(float64(i)/4)
		}
		depth = math.Max(0, depth+(acc-done)*0.25)
		offAcc = append(offAcc, Point{t, acc})
		offDone = append(offDone, Point{t, done})
		inAcc = append(inAcc, Point{t, 8400 + 200*math.Sin(float64(i)/5)})
		inDone = append(inDone, Point{t, 8380 + 200*math.Sin(float64(i)/5)})
		queue = append(queue, Point{t, depth})
	}
	return []TimelinePanel{
		{Title: "offload mode", YLabel: "Rate (req/s)", Lines: []Line{{"accepted/s", offAcc}, {"completed/s", offDone}}},
		{Title: "inline mode", YLabel: "Rate (req/s)", Lines: []Line{{"accepted/s", inAcc}, {"completed/s", inDone}}},
		{Title: "Offload queue depth", YLabel: "Queued requests", Lines: []Line{{"queue depth", queue}}},
	}
}

// pngSize is the pixel size render gives a figure of n panels.
func pngSize(panelHeight float64, n int) image.Point {
	h := float64(titleHeight) + float64(n)*panelHeight + float64(outerPad)
	scale := pngDPI / 72.0
	return image.Point{X: int(float64(figureWidth)*scale + 0.5), Y: int(h*scale + 0.5)}
}

// checkPNG decodes path and checks its size, and that each of the first
// nSeries series colours was drawn (so the lines, not just axes, are there).
func checkPNG(t *testing.T, path string, want image.Point, nSeries int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 20_000 {
		t.Errorf("%s is only %d bytes; a chart with text and lines is larger", path, len(raw))
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s does not decode as PNG: %v", path, err)
	}
	if got := img.Bounds().Size(); got != want {
		t.Errorf("%s is %v pixels, want %v", path, got, want)
	}
	counts := colourCounts(img)
	for i := range nSeries {
		ls, _ := seriesStyle(i)
		want := color.RGBAModel.Convert(ls.Color).(color.RGBA)
		// Well over what a legend thumbnail alone would contribute.
		if n := counts[want]; n < 400 {
			t.Errorf("%s: series %d colour %v appears in %d pixels, want a drawn line", path, i, want, n)
		}
	}
}

// colourCounts counts the pixels of each opaque colour in img.
func colourCounts(img image.Image) map[color.RGBA]int {
	counts := map[color.RGBA]int{}
	var pix []uint8
	switch m := img.(type) {
	case *image.RGBA:
		pix = m.Pix
	case *image.NRGBA:
		pix = m.Pix
	}
	if pix != nil && len(pix) == 4*img.Bounds().Dx()*img.Bounds().Dy() {
		// Reading Pix directly is ~50x faster than At under -race; for
		// opaque pixels RGBA and NRGBA bytes are the same.
		for i := 0; i+3 < len(pix); i += 4 {
			if pix[i+3] == 0xFF {
				counts[color.RGBA{pix[i], pix[i+1], pix[i+2], 0xFF}]++
			}
		}
		return counts
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA); c.A == 0xFF {
				counts[c]++
			}
		}
	}
	return counts
}

func TestSweepPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sweep.png")
	if err := Sweep(path, "Pool-size sweep: /data, 2 cores", sweepData()); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, pngSize(float64(sweepPanelHeight), 2), 3)
}

func TestTimelinePNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "timeline.png")
	if err := Timeline(path, "Accepted vs completed requests over time", timelineData()); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, pngSize(float64(timelinePanelHeight), 3), 3)
}

// TestSweepAxisVariants renders the pool-axis cases other than the
// power-of-two sweep: a single pool size, a zero pool size (no log axis),
// and more pool sizes than fit as labels. It writes SVG because PNG
// rasterising is slow under -race and TestSweepPNG already checks pixels.
func TestSweepAxisVariants(t *testing.T) {
	var many []SweepPoint
	for pool := 0; pool <= 40; pool++ {
		many = append(many, SweepPoint{Series: "offload", Pool: pool, Throughput: float64(1000 + pool), P99: time.Millisecond})
	}
	cases := map[string][]SweepPoint{
		"single": {{Series: "offload", Pool: 4, Throughput: 9000, P99: 3 * time.Millisecond}},
		"zero":   {{Series: "inline", Pool: 0, Throughput: 8000, P99: 2 * time.Millisecond}, {Series: "inline", Pool: 16, Throughput: 8100, P99: 2 * time.Millisecond}},
		"many":   many,
	}
	for name, pts := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name+".svg")
			if err := Sweep(path, "variant "+name, pts); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The largest pool size is always a tick label.
			last := strconv.Itoa(pts[len(pts)-1].Pool)
			if !strings.Contains(string(raw), ">"+last+"</text>") {
				t.Errorf("no tick label %q in the SVG", last)
			}
		})
	}
}

func TestSVG(t *testing.T) {
	dir := t.TempDir()
	for name, draw := range map[string]func(string) error{
		"sweep.svg":    func(p string) error { return Sweep(p, "Sweep as SVG", sweepData()) },
		"timeline.SVG": func(p string) error { return Timeline(p, "Timeline as SVG", timelineData()) },
	} {
		path := filepath.Join(dir, name)
		if err := draw(path); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		if !strings.Contains(s, "<svg") || !strings.Contains(s, "</svg>") {
			t.Errorf("%s is not an SVG document", name)
		}
		if !strings.Contains(s, "as SVG</text>") {
			t.Errorf("%s lacks its title as SVG text", name)
		}
		if _, err := png.Decode(bytes.NewReader(raw)); err == nil {
			t.Errorf("%s decodes as PNG; the extension should have chosen SVG", name)
		}
	}
}

func TestErrors(t *testing.T) {
	good := sweepData()
	withPoint := func(pt SweepPoint) []SweepPoint { return append([]SweepPoint{pt}, good...) }
	panels := func(modify func([]TimelinePanel)) []TimelinePanel {
		p := timelineData()
		modify(p)
		return p
	}
	cases := []struct {
		name string
		ext  string
		run  func(path string) error
		want string
	}{
		{"sweep without points", "png", func(p string) error { return Sweep(p, "t", nil) }, "no sweep points"},
		{"sweep without title", "png", func(p string) error { return Sweep(p, "", good) }, "empty title"},
		{"duplicate pool", "png", func(p string) error {
			return Sweep(p, "t", withPoint(SweepPoint{Series: "inline", Pool: 8, Throughput: 1}))
		}, `series "inline" has two points for pool size 8`},
		{"empty series", "png", func(p string) error { return Sweep(p, "t", withPoint(SweepPoint{Pool: 8})) }, "empty Series"},
		{"negative pool", "png", func(p string) error { return Sweep(p, "t", withPoint(SweepPoint{Series: "x", Pool: -1})) }, "negative pool size"},
		{"NaN throughput", "png", func(p string) error {
			return Sweep(p, "t", withPoint(SweepPoint{Series: "x", Pool: 1, Throughput: math.NaN()}))
		}, "throughput NaN"},
		{"negative p99", "png", func(p string) error { return Sweep(p, "t", withPoint(SweepPoint{Series: "x", Pool: 1, P99: -1})) }, "negative p99"},
		{"unsupported extension", "bmp", func(p string) error { return Sweep(p, "t", good) }, `unsupported format: "bmp"`},
		{"no extension", "", func(p string) error { return Sweep(p, "t", good) }, "no file extension"},
		{"timeline without panels", "png", func(p string) error { return Timeline(p, "t", nil) }, "no timeline panels"},
		{"timeline without title", "png", func(p string) error { return Timeline(p, "", timelineData()) }, "empty title"},
		{"panel without lines", "png", func(p string) error {
			return Timeline(p, "t", panels(func(ps []TimelinePanel) { ps[1].Lines = nil }))
		}, `panel 1 ("inline mode"): no lines`},
		{"panel without y label", "png", func(p string) error {
			return Timeline(p, "t", panels(func(ps []TimelinePanel) { ps[2].YLabel = "" }))
		}, "empty YLabel"},
		{"line without points", "png", func(p string) error {
			return Timeline(p, "t", panels(func(ps []TimelinePanel) { ps[0].Lines[1].Points = nil }))
		}, `line "completed/s" has no points`},
		{"duplicate line label", "png", func(p string) error {
			return Timeline(p, "t", panels(func(ps []TimelinePanel) { ps[0].Lines[1].Label = "accepted/s" }))
		}, `two lines labelled "accepted/s"`},
		{"time going backwards", "png", func(p string) error {
			return Timeline(p, "t", panels(func(ps []TimelinePanel) { ps[2].Lines[0].Points[5].T = 0 }))
		}, `line "queue depth" point 5: time 0s is not after`},
		{"infinite value", "png", func(p string) error {
			return Timeline(p, "t", panels(func(ps []TimelinePanel) { ps[0].Lines[0].Points[3].V = math.Inf(1) }))
		}, "value is +Inf"},
		{"missing directory", "png", func(p string) error {
			return Sweep(filepath.Join(filepath.Dir(p), "no-such-dir", "x.png"), "t", good)
		}, "no such file or directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "chart")
			if tc.ext != "" {
				path += "." + tc.ext
			}
			err := tc.run(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a failed chart left %d file(s) behind", len(entries))
			}
		})
	}
}

// TestRenderExamples writes one example of each chart to the directory in
// CHART_EXAMPLES_DIR, for looking at by eye; it is skipped otherwise.
func TestRenderExamples(t *testing.T) {
	dir := os.Getenv("CHART_EXAMPLES_DIR")
	if dir == "" {
		t.Skip("set CHART_EXAMPLES_DIR to write example charts there")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Sweep(filepath.Join(dir, "sweep.png"), "Pool-size sweep: /data on 2 cores", sweepData()); err != nil {
		t.Fatal(err)
	}
	if err := Timeline(filepath.Join(dir, "timeline.png"), "Accepted vs completed requests, pool size 4", timelineData()); err != nil {
		t.Fatal(err)
	}
	if err := Sweep(filepath.Join(dir, "sweep.svg"), "Pool-size sweep: /data on 2 cores", sweepData()); err != nil {
		t.Fatal(err)
	}
}

func TestPoolAxis(t *testing.T) {
	seq := func(lo, hi int) []int {
		var p []int
		for i := lo; i <= hi; i++ {
			p = append(p, i)
		}
		return p
	}
	cases := []struct {
		name  string
		pools []int
		log   bool
	}{
		{"powers of two", []int{1, 2, 4, 8, 16, 32, 64}, true},
		{"every size", seq(1, 40), false},
		{"with zero", []int{0, 1, 2, 4, 8, 16, 32, 64}, false},
		{"two sizes", []int{1, 64}, false},
		{"single size", []int{4}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlot("", "", "")
			setPoolAxis(&p.X, tc.pools)
			if _, isLog := p.X.Scale.(plot.LogScale); isLog != tc.log {
				t.Errorf("log scale = %v, want %v", isLog, tc.log)
			}
			ticks := p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max)
			if len(ticks) != len(tc.pools) {
				t.Fatalf("%d ticks for %d pool sizes", len(ticks), len(tc.pools))
			}
			last := ticks[len(ticks)-1]
			if last.Label != strconv.Itoa(tc.pools[len(tc.pools)-1]) {
				t.Errorf("largest pool size labelled %q", last.Label)
			}
			// Labels closer than 1/14 of the axis would overlap.
			prev := math.Inf(-1)
			for _, tk := range ticks {
				if tk.Label == "" {
					continue
				}
				pos := p.X.Norm(tk.Value)
				if pos-prev < 1.0/14-1e-9 {
					t.Errorf("label %q at %.3f is too close to the previous label at %.3f", tk.Label, pos, prev)
				}
				prev = pos
			}
		})
	}
}

func TestNiceTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		want   string
	}{
		{0, 10800, "0,2000,4000,6000,8000,10000"},
		{0, 30, "0,5,10,15,20,25,30"},
		{0, 1.6, "0.00,0.25,0.50,0.75,1.00,1.25,1.50"},
		{0, 2.2, "0.0,0.5,1.0,1.5,2.0"},
		{0, 13500, "0,2500,5000,7500,10000,12500"},
		{0, 216000, "0,50000,100000,150000,200000"},
		{-3, 3, "-3,-2,-1,0,1,2,3"},
	}
	for _, tc := range cases {
		var got []string
		for _, tk := range (niceTicks{want: 6}).Ticks(tc.lo, tc.hi) {
			got = append(got, tk.Label)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("Ticks(%v, %v) = %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
}

func TestWrapLabel(t *testing.T) {
	cases := map[string]string{
		"offload":       "offload",
		"offload (wrk)": "offload (wrk)",
		"offload with a rather long series name (wrk)": "offload with a rather\nlong series name (wrk)",
		"averyveryverylongwordwithoutspacesatall":      "averyveryverylongwordwithoutspacesatall",
	}
	for in, want := range cases {
		if got := wrapLabel(in, 22); got != want {
			t.Errorf("wrapLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
