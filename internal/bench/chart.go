package bench

import (
	"fmt"
	"image/color"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
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
	// Dashed draws the line dashed, without point markers (reference
	// lines).
	Dashed bool
}

// FailoverChart draws failover time against advert_int, both axes
// logarithmic (the intervals span 10 ms to 1 s), one line per series,
// and saves it to path; the extension (.png, .svg, .pdf) picks the format.
func FailoverChart(path, title string, series []ChartSeries) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "advert_int (ms)"
	p.Y.Label.Text = "failover time (ms)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	colors := []color.Color{
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff},
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	}
	for i, s := range series {
		if len(s.Points) == 0 {
			continue
		}
		pts := slices.Clone(s.Points)
		slices.SortFunc(pts, func(a, b ChartPoint) int { return int(a.AdvertInt - b.AdvertInt) })
		xys := make(plotter.XYs, len(pts))
		for j, pt := range pts {
			if pt.AdvertInt <= 0 || pt.Failover <= 0 {
				return fmt.Errorf("chart %s: series %s: point %v/%v is not positive (log axes)", path, s.Label, pt.AdvertInt, pt.Failover)
			}
			xys[j].X, xys[j].Y = ms(pt.AdvertInt), ms(pt.Failover)
		}
		c := colors[i%len(colors)]
		if s.Dashed {
			l, err := plotter.NewLine(xys)
			if err != nil {
				return fmt.Errorf("chart %s: %w", path, err)
			}
			l.Color, l.Dashes = c, []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(l)
			p.Legend.Add(s.Label, l)
			continue
		}
		l, sc, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("chart %s: %w", path, err)
		}
		l.Color, sc.Color = c, c
		sc.Shape = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}}[i%3]
		p.Add(l, sc)
		p.Legend.Add(s.Label, l, sc)
	}
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("save chart %s: %w", path, err)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
