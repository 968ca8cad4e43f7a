package bench

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ChartPoint is one failover time at one advert interval.
type ChartPoint struct {
	AdvertInt time.Duration
	Failover  time.Duration
}

// ChartSeries is one line of the failover chart ("vigil", "keepalived",
// "Master_Down_Interval").
type ChartSeries struct {
	Label  string
	Points []ChartPoint
	// Reference marks the Master_Down_Interval line: drawn dashed,
	// without markers, and subtracted from the other series in the
	// lower panel.
	Reference bool
}

var chartColors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// FailoverChart writes a PNG of two panels to path. The upper one is
// failover time against advert_int, both axes logarithmic (10 ms to 1 s),
// one line per series; there the lines lie on top of each other, since
// both daemons fail over at Master_Down_Interval. The lower one shows
// what tells them apart: each series minus the Reference series, in ms.
func FailoverChart(path, title string, series []ChartSeries) error {
	if filepath.Ext(path) != ".png" {
		return fmt.Errorf("chart %s: want a .png path", path)
	}
	var ref map[time.Duration]time.Duration
	for _, s := range series {
		if s.Reference {
			ref = map[time.Duration]time.Duration{}
			for _, pt := range s.Points {
				ref[pt.AdvertInt] = pt.Failover
			}
		}
	}

	top := plot.New()
	top.Title.Text = title
	top.X.Label.Text = "advert_int (ms)"
	top.Y.Label.Text = "failover time (ms)"
	top.X.Scale, top.Y.Scale = plot.LogScale{}, plot.LogScale{}
	top.X.Tick.Marker, top.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	top.Add(plotter.NewGrid())
	top.Legend.Top, top.Legend.Left = true, true

	bottom := plot.New()
	bottom.Title.Text = "time beyond Master_Down_Interval"
	bottom.X.Label.Text = "advert_int (ms)"
	bottom.Y.Label.Text = "failover − MDI (ms)"
	bottom.X.Scale, bottom.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	bottom.Add(plotter.NewGrid())
	bottom.Legend.Top, bottom.Legend.Left = true, true
	bottomLines := 0

	for i, s := range series {
		if len(s.Points) == 0 {
			continue
		}
		pts := slices.Clone(s.Points)
		slices.SortFunc(pts, func(a, b ChartPoint) int { return int(a.AdvertInt - b.AdvertInt) })
		xys := make(plotter.XYs, len(pts))
		var excess plotter.XYs
		for j, pt := range pts {
			if pt.AdvertInt <= 0 || pt.Failover <= 0 {
				return fmt.Errorf("chart %s: series %s: point %v/%v is not positive (log axes)", path, s.Label, pt.AdvertInt, pt.Failover)
			}
			xys[j].X, xys[j].Y = ms(pt.AdvertInt), ms(pt.Failover)
			if r, ok := ref[pt.AdvertInt]; ok && !s.Reference {
				excess = append(excess, plotter.XY{X: ms(pt.AdvertInt), Y: ms(pt.Failover - r)})
			}
		}
		c := chartColors[i%len(chartColors)]
		if s.Reference {
			l, err := plotter.NewLine(xys)
			if err != nil {
				return fmt.Errorf("chart %s: %w", path, err)
			}
			l.Color, l.Dashes = c, []vg.Length{vg.Points(4), vg.Points(3)}
			top.Add(l)
			top.Legend.Add(s.Label, l)
			continue
		}
		shape := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}}[i%3]
		l, sc, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("chart %s: %w", path, err)
		}
		l.Color, sc.Color, sc.Shape = c, c, shape
		top.Add(l, sc)
		top.Legend.Add(s.Label, l, sc)
		if len(excess) > 0 {
			el, esc, err := plotter.NewLinePoints(excess)
			if err != nil {
				return fmt.Errorf("chart %s: %w", path, err)
			}
			el.Color, esc.Color, esc.Shape = c, c, shape
			bottom.Add(el, esc)
			bottom.Legend.Add(s.Label, el, esc)
			bottomLines++
		}
	}
	if bottomLines > 0 {
		bottom.Y.Min = 0
	}

	const w, h = 7 * vg.Inch, 8 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter * 2, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	cs := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(cs[0][0])
	bottom.Draw(cs[1][0])

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
