package cli

import (
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how far an operation followed with --wait (or op watch) has
// come. On a terminal it is a bar redrawn in place; anywhere else (a file, a
// pipe, CI logs) redrawing would leave hundreds of carriage-return frames, so
// it prints one plain line per change instead.
type progress interface {
	// Update reports the state: step is what is under way (a line is printed
	// when it, done or total change); detail is extra text that changes on
	// every poll (rates, ETA) and never causes a line by itself.
	Update(step, detail string, done, total int64)
	// Finish ends the display.
	Finish()
}

// newProgress picks the display for w: a bar when w is a terminal.
func newProgress(w io.Writer) progress {
	if isTerminal(w) {
		return &barProgress{w: w}
	}
	return &lineProgress{w: w}
}

// isTerminal reports whether w is a terminal (an *os.File on a TTY).
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// barProgress redraws one bar line.
type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (b *barProgress) Update(step, detail string, done, total int64) {
	total = max(total, 1)
	if b.bar == nil {
		b.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(b.w), progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(false), progressbar.OptionClearOnFinish())
	}
	desc := step
	if detail != "" {
		desc += " " + detail
	}
	b.bar.ChangeMax64(total)
	b.bar.Describe(desc)
	_ = b.bar.Set64(min(done, total))
}

func (b *barProgress) Finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
		fmt.Fprintln(b.w)
	}
}

// lineProgress prints "[done/total] step detail" once per change: a new
// step or total, or, within one step, each further twentieth of the total
// (byte and slot counts change on every poll; a log wants a few lines, not
// one a second).
type lineProgress struct {
	w           io.Writer
	started     bool
	step        string
	done, total int64
}

func (l *lineProgress) Update(step, detail string, done, total int64) {
	if l.started && step == l.step && total == l.total && (done == l.done || (done < total && bucket(done, total) == bucket(l.done, total))) {
		return
	}
	l.started, l.step, l.done, l.total = true, step, done, total
	line := fmt.Sprintf("[%d/%d] %s", done, total, step)
	if detail != "" {
		line += " " + detail
	}
	fmt.Fprintln(l.w, line)
}

func (l *lineProgress) Finish() {}

// bucket is which twentieth of total done is in.
func bucket(done, total int64) int64 {
	if total <= 0 {
		return done
	}
	return done * 20 / total
}
