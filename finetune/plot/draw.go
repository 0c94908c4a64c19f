package plot

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Curve figure size: 6 x 4 inches, which is 576 x 384 pixels in PNG
// (gonum/plot renders raster formats at 96 dpi).
const (
	curveWidth  = 6 * vg.Inch
	curveHeight = 4 * vg.Inch
)

// Curves draws the loss and accuracy curves of history (train and
// validation against the epoch) and writes <outPrefix>loss.png,
// <outPrefix>loss.svg, <outPrefix>accuracy.png and <outPrefix>accuracy.svg.
// outPrefix is prepended as is: "out/" writes into the folder out (which
// must exist), "out/run1_" writes out/run1_loss.png. NaN values (e.g. no
// validation set) are left out; a series with no finite value is not drawn.
func Curves(history []EpochRecord, outPrefix string) error {
	if len(history) == 0 {
		return fmt.Errorf("plot: no epochs to draw")
	}
	figs := []struct {
		name, title, ylabel string
		train, val          func(EpochRecord) float64
	}{
		{"loss", "Loss", "cross-entropy loss",
			func(r EpochRecord) float64 { return r.TrainLoss }, func(r EpochRecord) float64 { return r.ValLoss }},
		{"accuracy", "Accuracy", "accuracy",
			func(r EpochRecord) float64 { return r.TrainAcc }, func(r EpochRecord) float64 { return r.ValAcc }},
	}
	// Series colours: train blue, validation orange.
	trainColor := color.RGBA{R: 31, G: 119, B: 180, A: 255}
	valColor := color.RGBA{R: 255, G: 127, B: 14, A: 255}
	for _, f := range figs {
		p := gplot.New()
		p.Title.Text = f.title
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = f.ylabel
		p.Add(plotter.NewGrid())
		p.Legend.Top = f.name == "loss" // away from the converging ends of the curves
		p.Legend.Left = false
		drawn := 0
		for _, s := range []struct {
			label string
			col   color.Color
			get   func(EpochRecord) float64
		}{{"train", trainColor, f.train}, {"val", valColor, f.val}} {
			var xys plotter.XYs
			for _, r := range history {
				v := s.get(r)
				if math.IsNaN(v) || math.IsInf(v, 0) {
					continue
				}
				xys = append(xys, plotter.XY{X: float64(r.Epoch), Y: v})
			}
			if len(xys) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return fmt.Errorf("plot: %s curve: %w", f.name, err)
			}
			line.Color = s.col
			line.Width = vg.Points(1.5)
			points.Color = s.col
			points.Shape = draw.CircleGlyph{}
			points.Radius = vg.Points(2)
			p.Add(line, points)
			p.Legend.Add(s.label, line, points)
			drawn++
		}
		if drawn == 0 {
			p.Title.Text += " (no data)"
		}
		p.X.Tick.Marker = epochTicks{}
		for _, ext := range []string{".png", ".svg"} {
			if err := saveFigure(p, curveWidth, curveHeight, outPrefix+f.name+ext); err != nil {
				return err
			}
		}
	}
	return nil
}

// epochTicks marks integer epochs only.
type epochTicks struct{}

// Ticks returns major ticks on whole epochs, at most about 10 of them.
func (epochTicks) Ticks(min, max float64) []gplot.Tick {
	lo, hi := math.Ceil(min), math.Floor(max)
	if hi < lo {
		return gplot.DefaultTicks{}.Ticks(min, max)
	}
	step := math.Max(1, math.Ceil((hi-lo+1)/10))
	var ticks []gplot.Tick
	for v := lo; v <= hi; v += step {
		ticks = append(ticks, gplot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ticks
}

// saveFigure writes p to path in the format named by its extension.
func saveFigure(p *gplot.Plot, w, h vg.Length, path string) (err error) {
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	switch format {
	case "png", "svg", "pdf", "jpg", "jpeg", "tif", "tiff", "eps":
	default:
		return fmt.Errorf("plot: %s: unsupported image format %q (want .png or .svg)", path, format)
	}
	wt, err := p.WriterTo(w, h, format)
	if err != nil {
		return fmt.Errorf("plot: rendering %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := wt.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot: writing %s: %w", path, err)
	}
	return nil
}

// blues is a white-to-dark-blue colour ramp for heat maps.
type blues struct{ n int }

// Colors implements palette.Palette.
func (b blues) Colors() []color.Color {
	lo := [3]float64{247, 251, 255}
	hi := [3]float64{8, 48, 107}
	out := make([]color.Color, b.n)
	for i := range out {
		t := float64(i) / float64(b.n-1)
		var c [3]uint8
		for k := range c {
			c[k] = uint8(math.Round(lo[k] + (hi[k]-lo[k])*t))
		}
		out[i] = color.RGBA{R: c[0], G: c[1], B: c[2], A: 255}
	}
	return out
}

// confusionGrid shows a confusion matrix as a plotter.GridXYZ: column c is
// the predicted class c, row r (counted from the bottom) the true class
// n-1-r, so the first class is the top row.
type confusionGrid struct {
	m [][]int
}

func (g confusionGrid) Dims() (c, r int)   { return len(g.m), len(g.m) }
func (g confusionGrid) Z(c, r int) float64 { return float64(g.m[len(g.m)-1-r][c]) }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }

// Limits above which the heat map leaves out cell counts and class names.
const (
	maxCellLabels = 40
	maxTickLabels = 80
)

// ConfusionHeatmap draws the confusion matrix conf (conf[true][pred]) as a
// heat map, true classes top to bottom and predicted classes left to right,
// with each count written in its cell, and writes it to path (.png or .svg,
// chosen by the extension). names labels the classes (may be empty, then
// the class indices are used). The figure grows with the number of classes;
// beyond 40 classes the counts, beyond 80 the class names are left out.
func ConfusionHeatmap(conf [][]int, names []string, path string) error {
	n := len(conf)
	if n == 0 {
		return fmt.Errorf("plot: empty confusion matrix")
	}
	maxCount := 0
	for i, row := range conf {
		if len(row) != n {
			return fmt.Errorf("plot: confusion matrix row %d has %d entries, want %d", i, len(row), n)
		}
		for _, v := range row {
			if v < 0 {
				return fmt.Errorf("plot: confusion matrix has negative count %d", v)
			}
			maxCount = max(maxCount, v)
		}
	}
	if len(names) == 0 {
		names = make([]string, n)
		for i := range names {
			names[i] = strconv.Itoa(i)
		}
	} else if len(names) != n {
		return fmt.Errorf("plot: %d class names for a %d-class confusion matrix", len(names), n)
	}

	p := gplot.New()
	p.Title.Text = "Confusion matrix"
	p.X.Label.Text = "predicted"
	p.Y.Label.Text = "true"
	const levels = 256
	hm := plotter.NewHeatMap(confusionGrid{conf}, blues{levels})
	hm.Min, hm.Max = 0, float64(max(maxCount, 1))
	p.Add(hm)

	if n <= maxCellLabels {
		lab := plotter.XYLabels{XYs: make(plotter.XYs, 0, n*n), Labels: make([]string, 0, n*n)}
		for r := 0; r < n; r++ {
			for c := 0; c < n; c++ {
				lab.XYs = append(lab.XYs, plotter.XY{X: float64(c), Y: float64(n - 1 - r)})
				lab.Labels = append(lab.Labels, strconv.Itoa(conf[r][c]))
			}
		}
		labels, err := plotter.NewLabels(lab)
		if err != nil {
			return fmt.Errorf("plot: confusion labels: %w", err)
		}
		size := vg.Points(math.Max(6, math.Min(12, 200/float64(n))))
		i := 0
		for r := 0; r < n; r++ {
			for c := 0; c < n; c++ {
				st := text.Style{
					Font:    font.From(plotter.DefaultFont, size),
					Handler: gplot.DefaultTextHandler,
					XAlign:  draw.XCenter,
					YAlign:  draw.YCenter,
					Color:   color.Black,
				}
				if float64(conf[r][c]) > 0.5*hm.Max {
					st.Color = color.White
				}
				labels.TextStyle[i] = st
				i++
			}
		}
		p.Add(labels)
	}
	if n <= maxTickLabels {
		rev := make([]string, n)
		for i, s := range names {
			rev[n-1-i] = s
		}
		p.NominalX(names...)
		p.NominalY(rev...)
		if n > 8 {
			p.X.Tick.Label.Rotation = math.Pi / 2
			p.X.Tick.Label.XAlign = draw.XRight
			p.X.Tick.Label.YAlign = draw.YCenter
		}
	} else {
		p.HideAxes()
		p.X.Label.Text, p.Y.Label.Text = "predicted", "true"
	}
	side := vg.Length(math.Min(30, math.Max(5, 2+0.45*float64(n)))) * vg.Inch
	return saveFigure(p, side, side, path)
}
