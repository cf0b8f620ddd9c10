package projection

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
)

// Bound limits a replay: up to a global position, or up to an instant, or
// (zero value) everything.
type Bound struct {
	Position int64     // > 0: events up to and including this position
	Time     time.Time // non-zero: events recorded at or before this instant
}

func (b Bound) String() string {
	switch {
	case b.Position > 0:
		return "position " + strconv.FormatInt(b.Position, 10)
	case !b.Time.IsZero():
		return b.Time.UTC().Format(time.RFC3339Nano)
	}
	return "now"
}

// ParseBound reads an --as-of value: a positive integer is a position, an
// RFC 3339 time an instant, a Go duration ("90m", "24h") that long before
// now, and "" or "now" everything.
func ParseBound(s string, now time.Time) (Bound, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return Bound{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return Bound{}, fmt.Errorf("as-of position %d: positions start at 1", n)
		}
		return Bound{Position: n}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return Bound{Time: t}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return Bound{Time: now.Add(-d)}, nil
	}
	return Bound{}, fmt.Errorf("as-of %q: want a position, an RFC 3339 time or a duration like 1h", s)
}

// resolve turns the bound into a position: -1 means no limit, 0 means
// before the first event.
func (b Bound) resolve(ctx context.Context, s *eventstore.Store) (int64, error) {
	switch {
	case b.Position > 0:
		return b.Position, nil
	case !b.Time.IsZero():
		return s.PositionAt(ctx, b.Time)
	}
	return -1, nil
}

// Rebuild folds the log from scratch up to bound into a new Projection.
func Rebuild(ctx context.Context, s *eventstore.Store, bound Bound) (*Projection, error) {
	return replay(ctx, s, eventstore.Filter{}, bound)
}

func replay(ctx context.Context, s *eventstore.Store, f eventstore.Filter, bound Bound) (*Projection, error) {
	p := NewProjection()
	upTo, err := bound.resolve(ctx, s)
	if err != nil {
		return nil, err
	}
	if upTo == 0 {
		return p, nil
	}
	if upTo > 0 {
		f.UpTo = upTo
	}
	fold := foldParallel
	if f.Cluster != "" {
		// One cluster's events are a sparse subset: one reader paging
		// through the cluster index beats cutting the whole log into ranges.
		fold = foldSequential
	}
	if err := fold(ctx, s, f, p); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return p, nil
}

func foldSequential(ctx context.Context, s *eventstore.Store, f eventstore.Filter, p *Projection) error {
	f.Lean = true
	return s.Scan(ctx, f, p.Apply)
}

// replayPage is one range of positions, read and decoded by a worker.
type replayPage struct {
	after, upTo int64 // positions after..upTo
	events      []eventstore.Event
	pls         []audit.Payload
	err         error
	done        chan struct{}
}

// replayPageSize is the number of positions per page.
const replayPageSize = 5000

// foldParallel folds the events matching f (no time bounds) into p in position order. Positions are gap-free, so the range is
// cut into pages of replayPageSize positions; workers each read a page on
// their own connection and decode its payloads, and the calling goroutine
// applies the pages in order. The result equals calling p.Apply on each
// event in order; memory stays bounded by the pages in flight.
func foldParallel(ctx context.Context, s *eventstore.Store, f eventstore.Filter, p *Projection) error {
	upTo := f.UpTo
	if upTo <= 0 {
		head, _, err := s.Head(ctx)
		if err != nil {
			return err
		}
		upTo = head
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(2, runtime.GOMAXPROCS(0))
	jobs := make(chan *replayPage)
	ordered := make(chan *replayPage, 2*workers)
	go func() {
		defer close(jobs)
		defer close(ordered)
		for after := f.After; after < upTo; after += replayPageSize {
			pg := &replayPage{after: after, upTo: min(after+replayPageSize, upTo), done: make(chan struct{})}
			select {
			case ordered <- pg:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- pg:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for pg := range jobs {
				pf := f
				pf.After, pf.UpTo, pf.Limit, pf.Lean = pg.after, pg.upTo, 0, true
				pg.err = s.Scan(ctx, pf, func(e eventstore.Event) error {
					pl, err := audit.Decode(e.Type, e.SchemaVersion, e.Payload)
					if errors.Is(err, audit.ErrUnknownEventType) {
						pl, err = nil, nil
					}
					if err != nil {
						return fmt.Errorf("event at position %d: %w", e.Position, err)
					}
					pg.events = append(pg.events, e)
					pg.pls = append(pg.pls, pl)
					return nil
				})
				close(pg.done)
			}
		})
	}
	defer wg.Wait()
	for pg := range ordered {
		select {
		case <-pg.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if pg.err != nil {
			cancel()
			return pg.err
		}
		for i, e := range pg.events {
			if pg.pls[i] == nil {
				p.Position = e.Position
				continue
			}
			p.ApplyPayload(e, pg.pls[i])
		}
	}
	return ctx.Err()
}

// ErrClusterNotFound: no event about the cluster up to the bound.
var ErrClusterNotFound = errors.New("cluster not found in the audit log")

// ClusterAsOf replays the events about one cluster (its stream and the
// events of its operations) up to bound and returns its state then, with
// the timelines of its operations.
func ClusterAsOf(ctx context.Context, s *eventstore.Store, cluster string, bound Bound) (*ClusterState, []*Timeline, error) {
	p, err := replay(ctx, s, eventstore.Filter{Cluster: cluster}, bound)
	if err != nil {
		return nil, nil, err
	}
	c := p.Clusters[cluster]
	if c == nil {
		return nil, nil, fmt.Errorf("%w: %q as of %s", ErrClusterNotFound, cluster, bound)
	}
	var tls []*Timeline
	for _, t := range p.Operations {
		tls = append(tls, t)
	}
	sortTimelines(tls)
	return c, tls, nil
}
