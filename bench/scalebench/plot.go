package scalebench

import (
	"fmt"
	"os"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Series returns, per operation in first-seen order, the points
// (shards, value(row)).
func Series(rows []Row, value func(Row) float64) (ops []string, pts map[string]plotter.XYs) {
	pts = map[string]plotter.XYs{}
	for _, r := range rows {
		if _, ok := pts[r.Operation]; !ok {
			ops = append(ops, r.Operation)
		}
		pts[r.Operation] = append(pts[r.Operation], plotter.XY{X: float64(r.Shards), Y: value(r)})
	}
	for _, op := range ops {
		slices.SortFunc(pts[op], func(a, b plotter.XY) int { return int(a.X - b.X) })
	}
	return ops, pts
}

func linePlot(title, ylabel string, rows []Row, value func(Row) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "shards (1 replica each)"
	p.Y.Label.Text = ylabel
	p.Legend.Top, p.Legend.Left = true, true
	ops, pts := Series(rows, value)
	var args []any
	for _, op := range ops {
		args = append(args, op, pts[op])
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, err
	}
	return p, nil
}

// WritePNG plots wall time, worker CPU seconds and the history's size
// against shards, one line per operation, side by side (the idle rows left
// out).
func WritePNG(path string, rows []Row) error {
	rows = slices.DeleteFunc(slices.Clone(rows), func(r Row) bool { return r.Operation == "idle" })
	wall, err := linePlot("Wall time", "seconds", rows, func(r Row) float64 { return r.Wall.Seconds() })
	if err != nil {
		return err
	}
	cpu, err := linePlot("Worker CPU", "CPU seconds (user+system)", rows, func(r Row) float64 { return r.WorkerCPU.Seconds() })
	if err != nil {
		return err
	}
	measured := slices.DeleteFunc(slices.Clone(rows), func(r Row) bool { return r.HistoryBytes <= 0 }) // older runs did not measure it
	hist, err := linePlot("Workflow history", "KiB (children included)", measured, func(r Row) float64 { return float64(r.HistoryBytes) / 1024 })
	if err != nil {
		return err
	}
	img := vgimg.New(18*vg.Inch, 5*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 3, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	c := plot.Align([][]*plot.Plot{{wall, cpu, hist}}, tiles, dc)
	wall.Draw(c[0][0])
	cpu.Draw(c[0][1])
	hist.Draw(c[0][2])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
