package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// svgSummary decodes an SVG document with encoding/xml and counts its elements by name.
func svgSummary(t *testing.T, doc []byte) (root xml.StartElement, counts map[string]int, texts []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	counts = map[string]int{}
	depth := 0
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the SVG must be well-formed XML:\n%s", doc)
		switch el := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = el
			}
			depth++
			counts[el.Name.Local]++
			inText = el.Name.Local == "text"
		case xml.EndElement:
			depth--
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, string(el))
			}
		}
	}
	require.Zero(t, depth, "every element is closed")
	return root, counts, texts
}

func TestChartSVG(t *testing.T) {
	c := Chart{
		Title: `Memory <per> connection & "more"`, XLabel: "connections", YLabel: "KiB",
		Series: []Series{
			{Name: "tlsmux", Points: []Point{{X: 9000, Y: 7.5, Label: "7.5"}, {X: 1000, Y: 9.1}, {X: 5000, Y: 8}}},
			{Name: "baseline <go>", Points: []Point{{X: 1000, Y: 52}, {X: 9000, Y: 49.5}}},
		},
		Marks: []Mark{{Y: 8, Label: "goal ≤ 8"}},
	}
	var b bytes.Buffer
	require.NoError(t, c.WriteSVG(&b))
	root, counts, texts := svgSummary(t, b.Bytes())
	assert.Equal(t, "svg", root.Name.Local)
	assert.Equal(t, "http://www.w3.org/2000/svg", root.Name.Space)
	assert.Equal(t, 2, counts["polyline"], "one line per series")
	assert.Equal(t, 5, counts["circle"], "one marker per point")
	joined := strings.Join(texts, "\n")
	assert.Contains(t, joined, `Memory <per> connection & "more"`, "the title survives escaping")
	assert.Contains(t, joined, "baseline <go>")
	assert.Contains(t, joined, "7.5")
	assert.Contains(t, joined, "goal ≤ 8")
	assert.Equal(t, 1, strings.Count(b.String(), "stroke-dasharray"), "one mark")
	assert.NotContains(t, b.String(), "NaN")
	assert.NotContains(t, b.String(), "Inf")
	assert.Contains(t, joined, "0", "a linear axis starts at zero")
}

// TestChartSVGEdgeCases: no data, one point, values a log axis cannot show, and a flat line
// all give a valid document with finite coordinates.
func TestChartSVGEdgeCases(t *testing.T) {
	for name, c := range map[string]Chart{
		"no series":   {Title: "empty"},
		"no points":   {Title: "empty", Series: []Series{{Name: "a"}}},
		"one point":   {Series: []Series{{Name: "a", Points: []Point{{X: 3, Y: 4}}}}},
		"log, ≤ 0":    {LogX: true, LogY: true, Series: []Series{{Name: "a", Points: []Point{{X: 0, Y: 1}, {X: 10, Y: -1}, {X: 100, Y: 0.5}}}}},
		"log, one":    {LogX: true, LogY: true, Series: []Series{{Name: "a", Points: []Point{{X: 10, Y: 10}}}}},
		"flat":        {Series: []Series{{Name: "a", Points: []Point{{X: 1, Y: 5}, {X: 2, Y: 5}}}}},
		"not finite":  {Series: []Series{{Name: "a", Points: []Point{{X: math.NaN(), Y: 1}, {X: 1, Y: math.Inf(1)}}}}},
		"six series":  {Series: []Series{{Name: "1"}, {Name: "2"}, {Name: "3"}, {Name: "4"}, {Name: "5"}, {Name: "6", Points: []Point{{X: 1, Y: 1}}}}},
		"huge values": {Series: []Series{{Name: "a", Points: []Point{{X: 1e9, Y: 3e7}, {X: 2e9, Y: 1e-3}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, c.WriteSVG(&b))
			svgSummary(t, b.Bytes())
			assert.NotContains(t, b.String(), "NaN")
			assert.NotContains(t, b.String(), "Inf")
		})
	}
}

func TestNewAxis(t *testing.T) {
	a := newAxis([]float64{0.7, 9.3}, false, 0, 100)
	assert.Equal(t, 0.0, a.lo)
	assert.Equal(t, 10.0, a.hi)
	assert.Equal(t, []float64{0, 2, 4, 6, 8, 10}, a.ticks)
	assert.Equal(t, 50.0, a.pos(5))

	l := newAxis([]float64{12, 3400}, true, 0, 300)
	assert.Equal(t, []float64{10, 100, 1000, 10000}, l.ticks)
	assert.InDelta(t, 100.0, l.pos(100), 1e-9)

	assert.Equal(t, "2.5k", tickLabel(2500))
	assert.Equal(t, "0.05", tickLabel(0.05))
	assert.Equal(t, "3M", tickLabel(3e6))
}
