package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/eventstore"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func TestAppendReadAndExpectedVersion(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, eventstore.Options{})
	ctx := t.Context()
	st := eventstore.ClusterStream("orders")

	r, err := s.Append(ctx, st, eventstore.NoStream(),
		ev(t, seqID("a", 1), "ClusterCreated", map[string]any{"cluster": "orders"}),
		ev(t, seqID("a", 2), "ShardAdded", map[string]any{"shard": 0}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(eventstore.AppendResult{Positions: []int64{1, 2}, Version: 2}, r); diff != "" {
		t.Errorf("append result (-want +got):\n%s", diff)
	}
	if _, err := s.Append(ctx, eventstore.OperationStream("op-1"), eventstore.Any(),
		ev(t, seqID("b", 1), "OperationRequested", map[string]any{"kind": "scale"})); err != nil {
		t.Fatal(err)
	}
	r, err = s.Append(ctx, st, eventstore.Exact(2), ev(t, seqID("a", 3), "ShardAdded", map[string]any{"shard": 1}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(eventstore.AppendResult{Positions: []int64{4}, Version: 3}, r); diff != "" {
		t.Errorf("append result (-want +got):\n%s", diff)
	}

	for name, tc := range map[string]struct {
		expected eventstore.ExpectedVersion
		want     string
	}{
		"no stream on existing": {eventstore.NoStream(), "stream cluster-orders: expected version no stream, actual version 3"},
		"exact too low":         {eventstore.Exact(2), "stream cluster-orders: expected version 2, actual version 3"},
		"exact too high":        {eventstore.Exact(7), "stream cluster-orders: expected version 7, actual version 3"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Append(ctx, st, tc.expected, ev(t, uuid.New(), "ShardAdded", map[string]any{}))
			var wev *eventstore.WrongExpectedVersionError
			if !errors.As(err, &wev) || !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
				t.Fatalf("err = %v, want WrongExpectedVersionError", err)
			}
			if wev.Error() != tc.want || wev.Actual != 3 || wev.Stream != "cluster-orders" {
				t.Errorf("error = %q, want %q", wev.Error(), tc.want)
			}
		})
	}

	fwd, err := s.ReadStream(ctx, st, 0, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.ReadStream(ctx, st, 0, true, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{1, 2, 4}, positions(fwd)); diff != "" {
		t.Errorf("forward (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{4, 2}, positions(back)); diff != "" {
		t.Errorf("backward (-want +got):\n%s", diff)
	}
	if fwd[0].Metadata.Cluster != "orders" || fwd[0].Metadata.Actor != "tester" || fwd[0].RecordedAt.IsZero() {
		t.Errorf("metadata not stored: %+v", fwd[0])
	}
	ops, err := s.Query(ctx, eventstore.Filter{Operation: "op-1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{1, 2, 3, 4}, positions(ops)); diff != "" {
		t.Errorf("by operation (-want +got):\n%s", diff)
	}
	typed, err := s.Query(ctx, eventstore.Filter{Types: []string{"ShardAdded"}, After: 2, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{4}, positions(typed)); diff != "" {
		t.Errorf("by type, paged (-want +got):\n%s", diff)
	}
}

func positions(es []eventstore.Event) []int64 {
	var p []int64
	for _, e := range es {
		p = append(p, e.Position)
	}
	return p
}

func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, eventstore.Options{MaxPayloadBytes: 64})
	ctx := t.Context()
	good := ev(t, uuid.New(), "T", map[string]any{"a": 1})
	with := func(f func(*eventstore.EventData)) eventstore.EventData {
		e := good
		e.ID = uuid.New()
		f(&e)
		return e
	}
	for name, tc := range map[string]struct {
		stream eventstore.StreamName
		event  eventstore.EventData
		want   error
	}{
		"array payload":     {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Payload = []byte(`[1]`) }), eventstore.ErrPayloadNotObject},
		"string payload":    {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Payload = []byte(`"x"`) }), eventstore.ErrPayloadNotObject},
		"broken json":       {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Payload = []byte(`{"a":`) }), eventstore.ErrPayloadNotObject},
		"trailing data":     {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Payload = []byte(`{} {}`) }), eventstore.ErrPayloadNotObject},
		"too large":         {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Payload = []byte(`{"a":"` + strings.Repeat("x", 80) + `"}`) }), eventstore.ErrPayloadTooLarge},
		"empty type":        {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Type = "" }), eventstore.ErrEmptyType},
		"empty actor":       {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Metadata.Actor = "" }), eventstore.ErrEmptyActor},
		"unknown category":  {eventstore.StreamName{Category: "tenant", ID: "x"}, good, eventstore.ErrUnknownCategory},
		"empty stream id":   {eventstore.ClusterStream(""), good, eventstore.ErrEmptyStreamID},
		"nil id":            {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.ID = uuid.Nil }), eventstore.ErrMissingEventID},
		"schema version 0":  {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.SchemaVersion = 0 }), eventstore.ErrBadSchemaVersion},
		"NUL in reason":     {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Metadata.Reason = "a\x00b" }), eventstore.ErrBadMetadata},
		"bad UTF-8 actor":   {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Metadata.Actor = "\xff" }), eventstore.ErrBadMetadata},
		"other cluster":     {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Metadata.Cluster = "d" }), eventstore.ErrBadMetadata},
		"bad UTF-8 payload": {eventstore.ClusterStream("c"), with(func(e *eventstore.EventData) { e.Payload = []byte("{\"a\":\"\xff\"}") }), eventstore.ErrPayloadNotObject},
	} {
		t.Run(name, func(t *testing.T) {
			// The bad event comes second: the good first one must not be written either.
			_, err := s.Append(ctx, tc.stream, eventstore.Any(), with(func(*eventstore.EventData) {}), tc.event)
			var inv *eventstore.InvalidEventError
			if !errors.Is(err, tc.want) || !errors.As(err, &inv) {
				t.Fatalf("err = %v, want %v inside InvalidEventError", err, tc.want)
			}
			if pos, _, err := s.Head(ctx); err != nil || pos != 0 {
				t.Errorf("head = %d, %v; want nothing written", pos, err)
			}
		})
	}
	if _, err := eventstore.ParseStream("tenant-x"); !errors.Is(err, eventstore.ErrUnknownCategory) {
		t.Errorf("ParseStream(tenant-x) = %v", err)
	}
}

func TestStepEventID(t *testing.T) {
	t.Parallel()
	a := eventstore.StepEventID("wf-1", "act-2", 0)
	for name, tc := range map[string]struct {
		id   uuid.UUID
		same bool
	}{
		"same inputs":       {eventstore.StepEventID("wf-1", "act-2", 0), true},
		"other seq":         {eventstore.StepEventID("wf-1", "act-2", 1), false},
		"other activity":    {eventstore.StepEventID("wf-1", "act-3", 0), false},
		"shifted separator": {eventstore.StepEventID("wf-1act-", "2", 0), false},
	} {
		if (tc.id == a) != tc.same {
			t.Errorf("%s: %s vs %s, want same=%v", name, tc.id, a, tc.same)
		}
	}
	if a.Version() != 5 {
		t.Errorf("version %d, want 5", a.Version())
	}
}

// Many goroutines on many connections append to a few streams with exact
// expected versions. Afterwards: positions are 1..N without gap or
// duplicate, every stream's versions are 1..k, and every append that lost a
// race got a conflict (successful appends per stream == its version, so no
// two appends ever succeeded from the same expected version).
func TestConcurrentAppenders(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t, eventstore.Options{})
	stores := append(moreStores(t, pool, 3), s) // four "processes"
	ctx := t.Context()
	const writers, perWriter, streams = 12, 40, 4
	var mu sync.Mutex
	successes := map[string]int{}
	expectedSeen := map[string]map[int64]bool{}
	conflicts := 0
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			s := stores[w%len(stores)]
			for i := range perWriter {
				st := eventstore.ClusterStream(fmt.Sprintf("c%d", (w+i)%streams))
				evs, err := s.ReadStream(ctx, st, 0, true, 1)
				if err != nil {
					errc <- err
					return
				}
				var v int64
				if len(evs) > 0 {
					v = evs[0].Version
				}
				n := 1 + i%3
				batch := make([]eventstore.EventData, n)
				for k := range batch {
					batch[k] = ev(t, uuid.New(), "ShardAdded", map[string]any{"w": w, "i": i, "k": k})
				}
				_, err = s.Append(ctx, st, eventstore.Exact(v), batch...)
				mu.Lock()
				switch {
				case err == nil:
					successes[st.String()] += n
					if expectedSeen[st.String()] == nil {
						expectedSeen[st.String()] = map[int64]bool{}
					}
					if expectedSeen[st.String()][v] {
						errc <- fmt.Errorf("two appends succeeded at %s version %d", st, v)
					}
					expectedSeen[st.String()][v] = true
				case errors.Is(err, eventstore.ErrWrongExpectedVersion):
					conflicts++
				default:
					errc <- err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	t.Logf("%d conflicts detected", conflicts)
	if conflicts == 0 {
		t.Error("expected some conflicts with this much contention")
	}
	var n, minPos, maxPos, distinct int64
	if err := pool.QueryRow(ctx, "SELECT count(*), min(position), max(position), count(DISTINCT event_id) FROM events").
		Scan(&n, &minPos, &maxPos, &distinct); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range successes {
		total += c
	}
	if n != int64(total) || minPos != 1 || maxPos != n || distinct != n {
		t.Errorf("count %d min %d max %d distinct ids %d; want %d events at 1..%d", n, minPos, maxPos, distinct, total, total)
	}
	rows, err := pool.Query(ctx, "SELECT stream, count(*), min(stream_version), max(stream_version) FROM events GROUP BY stream")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var st string
		var c, lo, hi int64
		if err := rows.Scan(&st, &c, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		if lo != 1 || hi != c {
			t.Errorf("%s versions %d..%d for %d events", st, lo, hi, c)
		}
		got[st] = int(c)
	}
	if diff := cmp.Diff(successes, got); diff != "" {
		t.Errorf("events per stream (-acknowledged +stored):\n%s", diff)
	}
	if _, err := s.Verify(ctx, eventstore.VerifyOptions{AllowNoCheckpoint: true}); err != nil {
		t.Errorf("verify after concurrent appends: %v", err)
	}
}

func TestIdempotentAppend(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t, eventstore.Options{})
	ctx := t.Context()
	st := eventstore.OperationStream("op-7")
	step := func(seq int) eventstore.EventData {
		return ev(t, eventstore.StepEventID("wf-op-7", "activity-5", seq), "StepCompleted", map[string]any{"seq": seq})
	}
	first, err := s.Append(ctx, st, eventstore.NoStream(), step(0), step(1))
	if err != nil {
		t.Fatal(err)
	}
	// A retry of the activity: same IDs, even a stale expected version.
	again, err := s.Append(ctx, st, eventstore.NoStream(), step(0), step(1))
	if err != nil {
		t.Fatal(err)
	}
	want := eventstore.AppendResult{Positions: first.Positions, Version: 2, Duplicate: true}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("re-append (-want +got):\n%s", diff)
	}
	// Partly stored, or stored on another stream: a caller bug, refused.
	if _, err := s.Append(ctx, st, eventstore.Any(), step(1), step(2)); !errors.Is(err, eventstore.ErrEventIDConflict) {
		t.Errorf("partial duplicate: %v", err)
	}
	if _, err := s.Append(ctx, eventstore.OperationStream("op-8"), eventstore.Any(), step(0)); !errors.Is(err, eventstore.ErrEventIDConflict) {
		t.Errorf("duplicate on other stream: %v", err)
	}

	// Racing retries of one step: half the racers share this Store (their
	// appends may meet in one group commit), half have a Store and pool of
	// their own (they meet at the advisory lock and the unique constraint).
	// Exactly one write; every caller gets the same position.
	const racers = 8
	stores := append(moreStores(t, pool, racers/2), s, s, s, s)
	for round := range 5 {
		id := eventstore.StepEventID("wf-race", "act", round)
		results := make([]eventstore.AppendResult, racers)
		errs := make([]error, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				<-start
				results[i], errs[i] = stores[i].Append(ctx, eventstore.OperationStream("race"), eventstore.Any(),
					ev(t, id, "StepStarted", map[string]any{"round": round}))
			})
		}
		close(start)
		wg.Wait()
		dups := 0
		for i := range racers {
			if errs[i] != nil {
				t.Fatalf("racer %d: %v", i, errs[i])
			}
			if results[i].Positions[0] != results[0].Positions[0] {
				t.Errorf("racer %d got position %d, racer 0 %d", i, results[i].Positions[0], results[0].Positions[0])
			}
			if results[i].Duplicate {
				dups++
			}
		}
		if dups != racers-1 {
			t.Errorf("round %d: %d duplicates, want %d", round, dups, racers-1)
		}
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM events WHERE event_id = $1", id).Scan(&n); err != nil || n != 1 {
			t.Errorf("round %d: %d rows (%v), want 1", round, n, err)
		}
	}
}

func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t, eventstore.Options{})
	_ = s
	ctx := t.Context()
	// Opening again is a no-op.
	if _, err := eventstore.Open(ctx, pool, eventstore.Options{}); err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO dayops_schema_migrations (component, version, name) VALUES ('eventstore', 99, '0099_future.sql')"); err != nil {
		t.Fatal(err)
	}
	_, err := eventstore.Open(ctx, pool, eventstore.Options{})
	var tooNew *eventstore.SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Database != 99 {
		t.Fatalf("Open on newer schema: %v", err)
	}
	t.Log(err)
}

// Appends whose context is already cancelled write nothing, also when they
// queue behind a group commit in progress; the others are unaffected.
func TestAppendCancelledContext(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, eventstore.Options{})
	ctx := t.Context()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			c := ctx
			if i%2 == 1 {
				c = cancelled
			}
			_, errs[i] = s.Append(c, eventstore.OperationStream(fmt.Sprintf("op-%d", i)), eventstore.NoStream(),
				ev(t, seqID("cancel", i), "StepStarted", map[string]any{"i": i}))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 && err != nil {
			t.Errorf("append %d: %v", i, err)
		}
		if i%2 == 1 && !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled append %d: %v", i, err)
		}
	}
	head, _, err := s.Head(ctx)
	if err != nil || head != 20 {
		t.Errorf("head %d (%v), want 20", head, err)
	}
	if _, err := s.Verify(ctx, eventstore.VerifyOptions{AllowNoCheckpoint: true}); err != nil {
		t.Error(err)
	}
}

// Scan pages through large results by position; limits and direction hold
// across page boundaries.
func TestScanPaging(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, eventstore.Options{})
	ctx := t.Context()
	const total = 12000
	for b := range total / 1000 {
		batch := make([]eventstore.EventData, 1000)
		for k := range batch {
			batch[k] = ev(t, seqID("page", b*1000+k), "ShardAdded", map[string]any{"k": k})
		}
		if _, err := s.Append(ctx, eventstore.ClusterStream(fmt.Sprintf("c%d", b%3)), eventstore.Any(), batch...); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		f           eventstore.Filter
		n           int
		first, last int64
	}{
		"all":                {eventstore.Filter{}, total, 1, total},
		"limit across pages": {eventstore.Filter{Limit: 7001, After: 10}, 7001, 11, 7011},
		"backward":           {eventstore.Filter{Backward: true, Limit: 6000}, 6000, total, total - 5999},
		"backward bounded":   {eventstore.Filter{Backward: true, Before: 9000, UpTo: 8000}, 8000, 8000, 1},
		"one cluster":        {eventstore.Filter{Cluster: "c1"}, 4000, 1001, 11000},
	} {
		t.Run(name, func(t *testing.T) {
			var got []int64
			if err := s.Scan(ctx, tc.f, func(e eventstore.Event) error {
				if n := len(got); n > 0 && (e.Position > got[n-1]) == tc.f.Backward {
					return fmt.Errorf("out of order: %d after %d", e.Position, got[n-1])
				}
				got = append(got, e.Position)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.n || got[0] != tc.first || got[len(got)-1] != tc.last {
				t.Errorf("got %d events %d..%d, want %d events %d..%d", len(got), got[0], got[len(got)-1], tc.n, tc.first, tc.last)
			}
		})
	}
}

// A lean scan (replays) returns the same values as a full scan for the
// fields it reads, upcasting included.
func TestLeanScanMatchesFullScan(t *testing.T) {
	t.Parallel()
	u := eventstore.NewUpcasters()
	u.Register("Old", 1, func(p json.RawMessage) (json.RawMessage, error) { return []byte(`{"upcast":true}`), nil })
	s, _ := newStore(t, eventstore.Options{Upcasters: u})
	ctx := t.Context()
	for i := range 50 {
		e := ev(t, seqID("lean", i), []string{"Old", "New"}[i%2], map[string]any{"i": i, "s": strings.Repeat("é", i)})
		e.Metadata.Reason = fmt.Sprintf("reason %d", i%3)
		if _, err := s.Append(ctx, eventstore.ClusterStream("c"), eventstore.Any(), e); err != nil {
			t.Fatal(err)
		}
	}
	full, err := s.Query(ctx, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	lean, err := s.Query(ctx, eventstore.Filter{Lean: true})
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Position        int64
		Type            string
		Version, Stored int
		Payload         string
		Actor, Reason   string
		At              string
	}
	conv := func(es []eventstore.Event) []view {
		var out []view
		for _, e := range es {
			out = append(out, view{e.Position, e.Type, e.SchemaVersion, e.StoredSchemaVersion, string(e.Payload),
				e.Metadata.Actor, e.Metadata.Reason, e.RecordedAt.UTC().Format(time.RFC3339Nano)})
		}
		return out
	}
	if diff := cmp.Diff(conv(full), conv(lean)); diff != "" {
		t.Errorf("lean scan (-full +lean):\n%s", diff)
	}
	if string(lean[0].Payload) != `{"upcast":true}` || lean[0].SchemaVersion != 2 {
		t.Errorf("lean scan not upcast: %s v%d", lean[0].Payload, lean[0].SchemaVersion)
	}
}
