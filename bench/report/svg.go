package report

import (
	"bufio"
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Chart is a line chart of a few series, written as a standalone SVG file by hand (no
// dependency): axes with round ticks, one polyline with markers per series, a legend.
type Chart struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool // logarithmic axis (points ≤ 0 are left out)
	Series                []Series
	Marks                 []Mark // horizontal reference lines, such as a goal
}

// Mark is a dashed horizontal line at Y, labelled.
type Mark struct {
	Y     float64
	Label string
}

// Series is one line of a chart.
type Series struct {
	Name   string
	Points []Point // drawn in X order
}

// Point is one data point; Label, if set, is written beside it.
type Point struct {
	X, Y  float64
	Label string
}

// Chart geometry, in SVG user units.
const (
	svgW, svgH                     = 760, 440
	padLeft, padRight, padTop, pad = 80, 170, 50, 60 // pad: bottom
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"}

// axis maps data values to pixels along one dimension.
type axis struct {
	log    bool
	lo, hi float64 // data range (log10 of it for a log axis)
	ticks  []float64
	p0, p1 float64 // pixel positions of lo and hi
}

func (a axis) pos(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	if a.hi == a.lo {
		return (a.p0 + a.p1) / 2
	}
	return a.p0 + (v-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

// usable reports whether v can be drawn on the axis.
func (a axis) usable(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!a.log || v > 0)
}

// newAxis chooses the range and ticks for values vs: decades for a log axis, steps of 1, 2 or
// 5 times a power of ten from zero for a linear one.
func newAxis(vs []float64, log bool, p0, p1 float64) axis {
	a := axis{log: log, p0: p0, p1: p1}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if a.usable(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if math.IsInf(lo, 1) { // no data
		lo, hi = 1, 10
	}
	if log {
		a.lo, a.hi = math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if a.hi == a.lo {
			a.hi++
		}
		for e := a.lo; e <= a.hi; e++ {
			a.ticks = append(a.ticks, math.Pow(10, e))
		}
		return a
	}
	lo = min(lo, 0)
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 5)
	a.lo, a.hi = math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	for i := 0; i <= 20; i++ {
		v := a.lo + float64(i)*step
		if v > a.hi+step/2 {
			break
		}
		a.ticks = append(a.ticks, v)
	}
	return a
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// tickLabel formats a tick compactly: 2500 → "2.5k", 0.05 → "0.05".
func tickLabel(v float64) string {
	switch av := math.Abs(v); {
	case av >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case av >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// WriteSVG writes the chart as a standalone SVG document.
func (c *Chart) WriteSVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var xs, ys []float64
	for _, s := range c.Series {
		for _, p := range s.Points {
			xs, ys = append(xs, p.X), append(ys, p.Y)
		}
	}
	for _, m := range c.Marks {
		ys = append(ys, m.Y)
	}
	ax := newAxis(xs, c.LogX, padLeft, svgW-padRight)
	ay := newAxis(ys, c.LogY, svgH-pad, padTop)

	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	text(bw, svgW/2, 28, "middle", 16, c.Title, "")

	// Grid, ticks and their labels.
	for _, t := range ax.ticks {
		x := ax.pos(t)
		fmt.Fprintf(bw, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/>`+"\n", x, padTop, x, svgH-pad)
		text(bw, x, svgH-pad+16, "middle", 11, tickLabel(t), "")
	}
	for _, t := range ay.ticks {
		y := ay.pos(t)
		fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", padLeft, y, svgW-padRight, y)
		text(bw, padLeft-6, y+4, "end", 11, tickLabel(t), "")
	}
	fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n",
		padLeft, padTop, svgW-padRight-padLeft, svgH-pad-padTop)
	text(bw, (padLeft+svgW-padRight)/2, svgH-pad+40, "middle", 12, c.XLabel, "")
	text(bw, 18, (padTop+svgH-pad)/2, "middle", 12, c.YLabel, fmt.Sprintf(`transform="rotate(-90 18 %d)"`, (padTop+svgH-pad)/2))

	for _, m := range c.Marks {
		if !ay.usable(m.Y) {
			continue
		}
		y := ay.pos(m.Y)
		fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#555" stroke-dasharray="6 4"/>`+"\n", padLeft, y, svgW-padRight, y)
		text(bw, float64(padLeft+6), y-5, "start", 11, m.Label, `fill="#555"`)
	}
	empty := true
	for i, s := range c.Series {
		color := palette[i%len(palette)]
		var pts []Point
		for _, p := range s.Points {
			if ax.usable(p.X) && ay.usable(p.Y) {
				pts = append(pts, p)
			}
		}
		slices.SortStableFunc(pts, func(a, b Point) int { return cmp.Compare(a.X, b.X) })
		if len(pts) > 0 {
			empty = false
			var coords []string
			for _, p := range pts {
				coords = append(coords, fmt.Sprintf("%.1f,%.1f", ax.pos(p.X), ay.pos(p.Y)))
			}
			fmt.Fprintf(bw, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(coords, " "))
			for _, p := range pts {
				x, y := ax.pos(p.X), ay.pos(p.Y)
				fmt.Fprintf(bw, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x, y, color)
				if p.Label != "" {
					// Beside the point, inwards near the right edge; above it for even series,
					// below for odd ones, so two series at one X keep their labels apart.
					lx, anchor := x+5, "start"
					if x > padLeft+0.75*(svgW-padRight-padLeft) {
						lx, anchor = x-5, "end"
					}
					ly := y - 6
					if i%2 == 1 {
						ly = y + 15
					}
					text(bw, lx, ly, anchor, 10, p.Label, `fill="`+color+`"`)
				}
			}
		}
		// Legend entry.
		ly := float64(padTop + 10 + 20*i)
		fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", svgW-padRight+12, ly, svgW-padRight+32, ly, color)
		text(bw, float64(svgW-padRight+38), ly+4, "start", 12, s.Name, "")
	}
	if empty {
		text(bw, (padLeft+svgW-padRight)/2, (padTop+svgH-pad)/2, "middle", 14, "no data", `fill="#888"`)
	}
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

// text writes a <text> element with s escaped; extra is inserted as attributes verbatim.
func text[N int | float64](w io.Writer, x, y N, anchor string, size int, s, extra string) {
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%d"`, float64(x), float64(y), anchor, size)
	if extra != "" {
		fmt.Fprintf(w, " %s", extra)
	}
	io.WriteString(w, ">")
	xml.EscapeText(w, []byte(s))
	io.WriteString(w, "</text>\n")
}
