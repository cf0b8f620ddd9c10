package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Group commit. Appends are serialized by the advisory lock, and each
// transaction waits for its commit to reach the disk while holding it, so
// one append per fsync would cap a busy store at a few hundred appends per
// second. Instead, concurrent Append calls of one Store queue up and one of
// them (the leader) commits the queued requests in a single transaction,
// each with its own expected-version check, idempotency check and result:
// a conflict in one request does not affect the others, and a request is
// still all-or-nothing. Leadership passes to the next waiting request when
// the leader's own request is done, so no goroutine runs in the background.

// maxGroupEvents and maxGroupBytes (payload bytes) bound one transaction;
// a single request larger than that still commits, alone.
const (
	maxGroupEvents = 5000
	maxGroupBytes  = 16 << 20
)

type appendRequest struct {
	ctx      context.Context
	stream   string
	expected ExpectedVersion
	prep     []preparedEvent
	res      AppendResult
	err      error
	done     chan struct{} // closed when res/err are set
	lead     chan struct{} // closed when this request is to lead
	aborted  bool          // failed by a panicking leader: leadership was reset
}

func (r *appendRequest) size() int {
	n := 0
	for _, p := range r.prep {
		n += len(p.payload)
	}
	return n
}

type groupCommitter struct {
	mu    sync.Mutex
	queue []*appendRequest
	busy  bool // a leader is running
}

// submit queues req and returns when req is done (or its context ended).
func (g *groupCommitter) submit(s *Store, req *appendRequest) {
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if !g.busy {
		g.busy = true
		g.mu.Unlock()
		g.leadUntilDone(s, req)
		return
	}
	g.mu.Unlock()
	select {
	case <-req.done:
		return
	case <-req.lead:
		g.leadUntilDone(s, req)
		return
	case <-req.ctx.Done():
	}
	// Cancelled while waiting: leave the queue if still in it.
	g.mu.Lock()
	removed := false
	for i, r := range g.queue {
		if r == req {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			removed = true
			break
		}
	}
	g.mu.Unlock()
	if !removed {
		// Taken into a group already: the outcome is being decided.
		<-req.done
		return
	}
	select {
	case <-req.lead: // leadership was handed to us: pass it on
		g.handOff()
	default:
	}
	req.err = req.ctx.Err()
}

func (g *groupCommitter) leadUntilDone(s *Store, req *appendRequest) {
	for {
		select {
		case <-req.done:
			if !req.aborted {
				g.handOff()
			}
			return
		default:
		}
		g.mu.Lock()
		n, events, size := 0, 0, 0
		for n < len(g.queue) && (n == 0 ||
			events+len(g.queue[n].prep) <= maxGroupEvents && size+g.queue[n].size() <= maxGroupBytes) {
			events += len(g.queue[n].prep)
			size += g.queue[n].size()
			n++
		}
		group := append([]*appendRequest(nil), g.queue[:n]...)
		g.queue = g.queue[n:]
		g.mu.Unlock()
		if len(group) == 0 {
			// Our request is not queued and not done: cannot happen.
			panic("eventstore: group commit lost a request")
		}
		g.commit(s, group)
	}
}

// commit commits one group and wakes its callers. If committing panics
// (a bug; Temporal recovers activity panics, so the process may go on),
// every queued caller is failed and the committer reset before the panic
// continues, so no later Append waits forever.
func (g *groupCommitter) commit(s *Store, group []*appendRequest) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		err := fmt.Errorf("eventstore: append panicked: %v", r)
		g.mu.Lock()
		failed := append(group, g.queue...)
		g.queue, g.busy = nil, false
		g.mu.Unlock()
		for _, q := range failed {
			q.res, q.err, q.aborted = AppendResult{}, err, true
			close(q.done)
		}
		panic(r)
	}()
	s.commitGroup(group)
	for _, r := range group {
		close(r.done)
	}
}

func (g *groupCommitter) handOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
		return
	}
	g.busy = false
}

var errRetryWithLookup = errors.New("retry with the event id lookup")

// commitGroup commits the requests of a group, setting each one's res/err.
// Fast path: no lookup of the event IDs; a stored ID then fails the COPY on
// the unique constraint (or a stale expected version looks like a
// conflict), and the group is retried with the lookup, which tells retries
// of stored appends from real conflicts.
func (s *Store) commitGroup(group []*appendRequest) {
	live := group[:0:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// The transaction does not follow any one caller's cancellation: it
	// commits the whole group or nothing.
	ctx := context.WithoutCancel(live[0].ctx)
	lookup := false
	for attempt := 0; ; attempt++ {
		err := s.commitOnce(ctx, live, lookup)
		var pgErr *pgconn.PgError
		if attempt < 3 && (errors.Is(err, errRetryWithLookup) || errors.As(err, &pgErr) && pgErr.Code == "23505") {
			lookup = true
			continue
		}
		if err != nil {
			for _, r := range live {
				r.res, r.err = AppendResult{}, err
			}
		}
		return
	}
}

type headRow struct {
	clock    time.Time
	position pgtype.Int8
	hash     []byte
	recorded pgtype.Timestamptz
	ckptSeq  pgtype.Int8
	ckptPos  pgtype.Int8
	ckptAt   pgtype.Timestamptz
}

type storedID struct {
	position int64
	stream   string
	version  int64
}

// commitOnce commits a group in one transaction: under the append lock it
// reads the streams' versions and the chain head (and, on a retry, the
// stored event IDs), chains the new events, copies them in, then notifies
// and signs a checkpoint when one is due.
func (s *Store) commitOnce(ctx context.Context, group []*appendRequest, lookup bool) error {
	var ids []pgtype.UUID
	var streams []string
	seenStream := map[string]bool{}
	for _, r := range group {
		r.res, r.err = AppendResult{}, nil
		if !seenStream[r.stream] {
			seenStream[r.stream] = true
			streams = append(streams, r.stream)
		}
		if lookup {
			for _, p := range r.prep {
				ids = append(ids, pgtype.UUID{Bytes: p.data.ID, Valid: true})
			}
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		st, err := readAppendState(ctx, tx, streams, ids, lookup)
		if err != nil {
			return err
		}
		ch := st.chain(s, group, lookup)
		if ch.err != nil {
			return ch.err
		}
		if len(ch.rows) == 0 {
			return nil
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, pgx.CopyFromRows(ch.rows)); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		b := &pgx.Batch{}
		b.Queue("SELECT pg_notify($1, $2)", NotifyChannel, strconv.FormatInt(ch.pos, 10))
		if sg := s.opts.Signer; sg != nil {
			since := ch.pos
			if st.head.ckptPos.Valid {
				since = ch.pos - st.head.ckptPos.Int64
			}
			if since >= s.opts.CheckpointEvery || (st.head.ckptAt.Valid && ch.recorded.Sub(st.head.ckptAt.Time) >= s.opts.CheckpointInterval) {
				c := sg.Sign(st.head.ckptSeq.Int64+1, ch.pos, ch.prev, ch.recorded)
				b.Queue(insertCheckpoint, checkpointArgs(c)...)
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		return nil
	})
}

// appendState is what a commit reads under the append lock.
type appendState struct {
	versions map[string]int64 // by stream
	head     headRow
	stored   map[uuid.UUID]storedID // only on a lookup
}

// readAppendState takes the append lock and reads, in one round trip, the
// streams' versions, the chain head and (with lookup) the stored IDs.
func readAppendState(ctx context.Context, tx pgx.Tx, streams []string, ids []pgtype.UUID, lookup bool) (appendState, error) {
	st := appendState{versions: map[string]int64{}, stored: map[uuid.UUID]storedID{}}
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", appendLockKey)
	// Every statement below starts after the lock is held, so under
	// READ COMMITTED it sees every append committed before ours.
	// One index probe per stream (newest version first); a max() over
	// "stream = ANY(...)" would read every event of those streams.
	b.Queue(`SELECT s.stream, coalesce((SELECT e.stream_version FROM events AS e WHERE e.stream = s.stream
			ORDER BY e.stream_version DESC LIMIT 1), 0)
		FROM unnest($1::text[]) AS s(stream)`, streams)
	b.Queue(`SELECT clock_timestamp(), h.position, h.hash, h.recorded_at, c.seq, c.position, c.signed_at
		FROM (SELECT 1) AS one
		LEFT JOIN LATERAL (SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1) AS h ON true
		LEFT JOIN LATERAL (SELECT seq, position, signed_at FROM checkpoints ORDER BY seq DESC LIMIT 1) AS c ON true`)
	if lookup {
		b.Queue("SELECT event_id, position, stream, stream_version FROM events WHERE event_id = ANY($1)", ids)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return st, fmt.Errorf("take append lock: %w", err)
	}
	rows, _ := br.Query()
	var stream string
	var v int64
	if _, err := pgx.ForEachRow(rows, []any{&stream, &v}, func() error { st.versions[stream] = v; return nil }); err != nil {
		return st, fmt.Errorf("read stream versions: %w", err)
	}
	h := &st.head
	if err := br.QueryRow().Scan(&h.clock, &h.position, &h.hash, &h.recorded, &h.ckptSeq, &h.ckptPos, &h.ckptAt); err != nil {
		return st, fmt.Errorf("read chain head: %w", err)
	}
	if lookup {
		rows, _ := br.Query()
		var id pgtype.UUID
		var sid storedID
		if _, err := pgx.ForEachRow(rows, []any{&id, &sid.position, &sid.stream, &sid.version}, func() error {
			st.stored[id.Bytes] = sid
			return nil
		}); err != nil {
			return st, fmt.Errorf("look up event ids: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return st, fmt.Errorf("append batch: %w", err)
	}
	return st, nil
}

// chained is a group's new events, hashed onto the chain.
type chained struct {
	rows     [][]any   // for COPY, in eventColumns order
	pos      int64     // the last position
	prev     []byte    // the last hash
	recorded time.Time // every event's recorded time
	err      error     // errRetryWithLookup
}

// chain decides each request of the group (a duplicate, a conflict, or new
// events) and hashes the new events onto the chain head.
func (st appendState) chain(s *Store, group []*appendRequest, lookup bool) chained {
	head := st.head
	// Recorded time: the database clock read after the lock, never below
	// the previous event's, so time order equals position order.
	ch := chained{recorded: head.clock.Truncate(time.Microsecond), prev: GenesisPrevHash}
	if head.recorded.Valid && ch.recorded.Before(head.recorded.Time) {
		ch.recorded = head.recorded.Time
	}
	if head.position.Valid {
		ch.pos, ch.prev = head.position.Int64, head.hash
	}
	for _, r := range group {
		if done := s.checkStored(r, st.stored); done {
			continue
		}
		current := st.versions[r.stream]
		if !r.expected.Matches(current) {
			if !lookup {
				// Perhaps a retried append with a stale expected version:
				// look the IDs up before calling it a conflict.
				return chained{err: errRetryWithLookup}
			}
			r.err = &WrongExpectedVersionError{Stream: r.stream, Expected: r.expected, Actual: current}
			continue
		}
		r.res.Positions = make([]int64, len(r.prep))
		for i, p := range r.prep {
			ch.pos++
			current++
			h := EventHash(HashInput{
				Position: ch.pos, PrevHash: ch.prev, ID: p.data.ID, Stream: r.stream, Version: current,
				Type: p.data.Type, SchemaVersion: p.data.SchemaVersion, Payload: p.payload,
				Metadata: p.md, RecordedAt: ch.recorded,
			})
			ch.rows = append(ch.rows, []any{ch.pos, pgtype.UUID{Bytes: p.data.ID, Valid: true}, r.stream, current,
				p.data.Type, int32(p.data.SchemaVersion), string(p.payload), p.md.Actor, p.md.Reason,
				p.md.CorrelationID, p.md.CausationID, p.md.Cluster, ch.recorded, ch.prev, h})
			st.stored[p.data.ID] = storedID{position: ch.pos, stream: r.stream, version: current}
			r.res.Positions[i] = ch.pos
			ch.prev = h
		}
		r.res.Version = current
		st.versions[r.stream] = current
	}
	return ch
}

// checkStored handles a request whose IDs are (partly) stored already,
// in the database or earlier in this group. It returns true when the
// request is decided: a duplicate (original positions) or a conflict.
func (s *Store) checkStored(r *appendRequest, stored map[uuid.UUID]storedID) bool {
	found := 0
	for _, p := range r.prep {
		sid, ok := stored[p.data.ID]
		if !ok {
			continue
		}
		found++
		if sid.stream != r.stream {
			r.err = &EventIDConflictError{Stream: r.stream, EventID: p.data.ID,
				Detail: fmt.Sprintf("already stored on stream %s at position %d", sid.stream, sid.position)}
			return true
		}
	}
	if found == 0 {
		return false
	}
	if found != len(r.prep) {
		for _, p := range r.prep {
			if _, ok := stored[p.data.ID]; ok {
				r.err = &EventIDConflictError{Stream: r.stream, EventID: p.data.ID,
					Detail: fmt.Sprintf("stored, but %d other events of this append are not: not a retry of the same append", len(r.prep)-found)}
				return true
			}
		}
	}
	r.res = AppendResult{Duplicate: true, Positions: make([]int64, len(r.prep))}
	for i, p := range r.prep {
		sid := stored[p.data.ID]
		r.res.Positions[i] = sid.position
		r.res.Version = max(r.res.Version, sid.version)
	}
	return true
}
