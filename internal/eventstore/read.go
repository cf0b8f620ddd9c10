package eventstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/eventstore/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Filter selects events for Scan and Query. Zero fields do not filter.
// Results are in position order (descending when Backward).
type Filter struct {
	Cluster   string    // events whose metadata names this cluster (its stream and its operations)
	Operation string    // events of stream operation-<id> or correlated to that operation
	Stream    string    // one stream by full name
	Types     []string  // any of these event types
	Since     time.Time // recorded at or after
	Until     time.Time // recorded at or before
	After     int64     // position > After (paging forward)
	Before    int64     // position < Before when > 0 (paging backward)
	UpTo      int64     // position <= UpTo when > 0 (as-of replays)
	Limit     int       // at most Limit events when > 0
	Backward  bool
	// WithHashes also reads prev_hash and hash.
	WithHashes bool
	// Raw skips upcasting (verification reads what is stored).
	Raw bool
	// Lean reads only what projections need (position, type, schema
	// version, payload, actor, reason, recorded time); the other fields of
	// the returned events are zero. Replays of millions of events use it.
	Lean bool
}

const leanColumns = "position, event_type, schema_version, payload, actor, reason, recorded_at"

const baseColumns = "position, event_id, stream, stream_version, event_type, schema_version, payload, actor, reason, correlation_id, causation_id, cluster, recorded_at"

func (f Filter) sql() (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Cluster != "" {
		where = append(where, "cluster = "+arg(f.Cluster))
	}
	if f.Operation != "" {
		where = append(where, fmt.Sprintf("(stream = %s OR correlation_id = %s)",
			arg(OperationStream(f.Operation).String()), arg(f.Operation)))
	}
	if f.Stream != "" {
		where = append(where, "stream = "+arg(f.Stream))
	}
	if len(f.Types) > 0 {
		where = append(where, "event_type = ANY("+arg(f.Types)+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "recorded_at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "recorded_at <= "+arg(f.Until))
	}
	if f.After > 0 {
		where = append(where, "position > "+arg(f.After))
	}
	if f.Before > 0 {
		where = append(where, "position < "+arg(f.Before))
	}
	if f.UpTo > 0 {
		where = append(where, "position <= "+arg(f.UpTo))
	}
	cols := baseColumns
	if f.Lean {
		cols = leanColumns
	}
	if f.WithHashes {
		cols += ", prev_hash, hash"
	}
	q := "SELECT " + cols + " FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Backward {
		q += " ORDER BY position DESC"
	} else {
		q += " ORDER BY position"
	}
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	return q, args
}

// Scan streams the events matching f to fn, in order, without holding them
// all in memory. fn's error stops the scan and is returned.
func (s *Store) Scan(ctx context.Context, f Filter, fn func(Event) error) error {
	// Time bounds become position bounds (no index on recorded_at).
	if !f.Since.IsZero() {
		p, err := s.PositionAt(ctx, f.Since.Add(-time.Microsecond))
		if err != nil {
			return err
		}
		f.After = max(f.After, p)
	}
	if !f.Until.IsZero() {
		p, err := s.PositionAt(ctx, f.Until)
		if err != nil {
			return err
		}
		if p == 0 {
			return nil
		}
		if f.UpTo <= 0 || p < f.UpTo {
			f.UpTo = p
		}
	}
	// Keyset paging: each page is "after the last position seen, ORDER BY
	// position LIMIT n", which the planner serves from an index in order;
	// one unbounded ORDER BY over a large table may become a sort on disk.
	remaining := f.Limit
	for {
		page := f
		page.Limit = scanPage
		if remaining > 0 && remaining < scanPage {
			page.Limit = remaining
		}
		n, last, err := s.scanPage(ctx, page, fn)
		if err != nil {
			return err
		}
		if remaining > 0 {
			remaining -= n
			if remaining == 0 {
				return nil
			}
		}
		if n < page.Limit {
			return nil
		}
		if f.Backward {
			f.Before = last
		} else {
			f.After = last
		}
	}
}

// scanPage is the page size of Scan.
const scanPage = 5000

func (s *Store) scanPage(ctx context.Context, f Filter, fn func(Event) error) (n int, last int64, err error) {
	q, args := f.sql()
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	dec := wire.NewDecoder(f.Lean, f.WithHashes, rows.FieldDescriptions())
	for rows.Next() {
		var e Event
		var err error
		if dec != nil {
			e, err = dec.Decode(rows.RawValues())
			if err == nil {
				err = s.upcast(&e, f)
			}
		} else {
			e, err = s.scanEvent(rows, f)
		}
		if err != nil {
			return n, last, err
		}
		n++
		last = e.Position
		if err := fn(e); err != nil {
			return n, last, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, last, fmt.Errorf("read events: %w", err)
	}
	return n, last, nil
}

func (s *Store) scanEvent(rows pgx.Rows, f Filter) (Event, error) {
	var e Event
	var id pgtype.UUID
	var payload []byte
	var sv int32
	dest := []any{&e.Position, &id, &e.Stream, &e.Version, &e.Type, &sv, &payload,
		&e.Metadata.Actor, &e.Metadata.Reason, &e.Metadata.CorrelationID, &e.Metadata.CausationID, &e.Metadata.Cluster, &e.RecordedAt}
	if f.Lean {
		dest = []any{&e.Position, &e.Type, &sv, &payload, &e.Metadata.Actor, &e.Metadata.Reason, &e.RecordedAt}
	}
	if f.WithHashes {
		dest = append(dest, &e.PrevHash, &e.Hash)
	}
	if err := rows.Scan(dest...); err != nil {
		return e, fmt.Errorf("read events: %w", err)
	}
	e.ID = id.Bytes
	e.StoredSchemaVersion = int(sv)
	e.SchemaVersion = int(sv)
	e.Payload = payload
	return e, s.upcast(&e, f)
}

func (s *Store) upcast(e *Event, f Filter) error {
	if f.Raw || s.opts.Upcasters == nil {
		return nil
	}
	p, v, err := s.opts.Upcasters.Upcast(e.Type, e.SchemaVersion, e.Payload, s.opts.MaxPayloadBytes)
	if err != nil {
		return fmt.Errorf("event at position %d: %w", e.Position, err)
	}
	e.Payload, e.SchemaVersion = p, v
	return nil
}

// Query returns the events matching f (set a Limit to page).
func (s *Store) Query(ctx context.Context, f Filter) ([]Event, error) {
	var out []Event
	err := s.Scan(ctx, f, func(e Event) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// ReadAll returns up to limit events after position after, in order.
func (s *Store) ReadAll(ctx context.Context, after int64, limit int) ([]Event, error) {
	return s.Query(ctx, Filter{After: after, Limit: limit})
}

// ReadStream reads a stream forward from version from (inclusive; 0 is the
// start) or, when backward, down from version from (0 is the end). limit <= 0
// means no limit.
func (s *Store) ReadStream(ctx context.Context, stream StreamName, from int64, backward bool, limit int) ([]Event, error) {
	if err := stream.Validate(); err != nil {
		return nil, &InvalidEventError{Index: -1, Err: err}
	}
	q := "SELECT " + baseColumns + " FROM events WHERE stream = $1"
	args := []any{stream.String()}
	switch {
	case backward && from > 0:
		q += " AND stream_version <= $2 ORDER BY stream_version DESC"
		args = append(args, from)
	case backward:
		q += " ORDER BY stream_version DESC"
	default:
		q += " AND stream_version >= $2 ORDER BY stream_version"
		args = append(args, from)
	}
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := s.scanEvent(rows, Filter{})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	return out, nil
}

// Head returns the last position and its hash (0, nil when empty).
func (s *Store) Head(ctx context.Context) (int64, []byte, error) {
	var pos int64
	var hash []byte
	err := s.pool.QueryRow(ctx, "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1").Scan(&pos, &hash)
	if err == pgx.ErrNoRows {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read head: %w", err)
	}
	return pos, hash, nil
}

// PositionAt returns the last position recorded at or before t (0 if none).
// Recorded times never decrease with position (see the package doc), so it
// is a binary search over the primary key, and "as of t" is "up to
// PositionAt(t)".
func (s *Store) PositionAt(ctx context.Context, t time.Time) (int64, error) {
	head, _, err := s.Head(ctx)
	if err != nil {
		return 0, err
	}
	// Invariant: recorded(lo) <= t (lo = 0 stands for "before the log"),
	// and every position above hi is recorded after t.
	lo, hi := int64(0), head
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		var pos int64
		var at time.Time
		err := s.pool.QueryRow(ctx, "SELECT position, recorded_at FROM events WHERE position >= $1 ORDER BY position LIMIT 1", mid).Scan(&pos, &at)
		if err != nil {
			return 0, fmt.Errorf("position at %s: %w", t.Format(time.RFC3339Nano), err)
		}
		if at.After(t) {
			hi = mid - 1
		} else {
			lo = pos
		}
	}
	return lo, nil
}
