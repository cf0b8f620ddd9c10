package chaosbench

import (
	"context"
	"errors"
	"fmt"

	"github.com/dayops/dayops/internal/testutil/redistest"
)

// Span is the writer's account of one scenario, from its Begin to its End:
// the writes acknowledged, failed and lost, the longest gap and the filled
// keys lost. Scenarios outside this package (bench/chaosbench/kubedown)
// measure themselves with it too.
type Span struct {
	stats      redistest.WriterStats
	keysBefore int
}

// Begin starts a Span; the writer must run.
func (b *Bench) Begin(ctx context.Context) (Span, error) {
	if b.writer == nil {
		return Span{}, errors.New("start the writer first")
	}
	n, err := b.countFilled(ctx)
	b.gaps.Take()
	return Span{stats: b.writer.Stats(), keysBefore: n}, err
}

// End counts what the writer saw since s began into f and adds f to
// b.Figures.
func (b *Bench) End(ctx context.Context, s Span, f *Figure) error {
	keysAfter, err := b.countFilled(ctx)
	if err != nil {
		return err
	}
	f.Gap = max(f.Gap, b.gaps.Take())
	addWrites(f, s.stats, b.writer.Stats())
	f.KeysBefore, f.KeysLost = s.keysBefore, max(0, s.keysBefore-keysAfter)
	b.Figures = append(b.Figures, *f)
	return nil
}

// addWrites counts the writer's work from one reading of its stats to a
// later one into f.
func addWrites(f *Figure, from, now redistest.WriterStats) {
	f.Acked += now.Acked - from.Acked
	f.Failed += now.Failed - from.Failed
	f.AckedLost += now.Lost - from.Lost
	switch {
	case now.Lost > 1 && from.Lost == 0:
		f.Note = join(f.Note, fmt.Sprintf("lost: first %v; last %v", now.FirstLost, now.LostErr))
	case now.Lost > from.Lost:
		f.Note = join(f.Note, fmt.Sprintf("lost: %v", now.LostErr))
	}
}
