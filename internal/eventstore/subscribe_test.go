package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/eventstore"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

var errCrash = errors.New("simulated crash")

// A subscriber is stopped (cancelled, or its handler fails mid-batch) again
// and again while writers append; after the last restart every event was
// handled exactly once: the handler's effects (rows in "seen") commit with
// the checkpoint, and a repeated event would hit the primary key.
func TestSubscriptionAcrossRestarts(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t, eventstore.Options{})
	ctx := t.Context()
	exec(t, pool, `CREATE TABLE seen (position bigint PRIMARY KEY, event_id uuid NOT NULL)`)

	const total = 600
	writerDone := make(chan error, 1)
	go func() {
		written := 0
		for i := 0; written < total; i++ {
			n := min(1+i%5, total-written)
			batch := make([]eventstore.EventData, n)
			for k := range batch {
				batch[k] = ev(t, uuid.New(), "StepCompleted", map[string]any{"i": i, "k": k})
			}
			if _, err := s.Append(ctx, eventstore.OperationStream(fmt.Sprintf("op-%d", i%7)), eventstore.Any(), batch...); err != nil {
				writerDone <- err
				return
			}
			written += n
		}
		writerDone <- nil
	}()

	var repeats atomic.Int64
	var handled atomic.Int64
	handler := func(failAfter int64) eventstore.BatchHandler {
		return func(ctx context.Context, tx pgx.Tx, evs []eventstore.Event) error {
			for _, e := range evs {
				tag, err := tx.Exec(ctx, `INSERT INTO seen (position, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, e.Position, e.ID)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					repeats.Add(1)
				}
				if handled.Add(1) == failAfter {
					return errCrash // rolls back this whole batch, including the rows above
				}
			}
			return nil
		}
	}
	opts := eventstore.SubscribeOptions{BatchSize: 37, PollInterval: 50 * time.Millisecond}

	// Five runs that crash in the handler at growing counts.
	for run := range 5 {
		failAfter := handled.Load() + int64(20+run*45)
		err := s.Subscribe(ctx, "restart-test", opts, handler(failAfter))
		if !errors.Is(err, errCrash) {
			t.Fatalf("run %d: %v, want the simulated crash", run, err)
		}
	}
	// Two runs cancelled from outside at arbitrary moments.
	for run := range 2 {
		rctx, cancel := context.WithTimeout(ctx, time.Duration(30+run*40)*time.Millisecond)
		err := s.Subscribe(rctx, "restart-test", opts, handler(-1))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled run %d: %v", run, err)
		}
	}
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	// The last run catches up, then waits live. Its poll interval is an
	// hour, so only LISTEN/NOTIFY can wake it for the event appended below.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	live := eventstore.SubscribeOptions{BatchSize: 37, PollInterval: time.Hour}
	go func() { done <- s.Subscribe(rctx, "restart-test", live, handler(-1)) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pos, err := s.SubscriberPosition(ctx, "restart-test")
		if err != nil {
			t.Fatal(err)
		}
		if pos == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriber stuck at %d of %d", pos, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// One more event while live: NOTIFY must wake the subscriber.
	if _, err := s.Append(ctx, eventstore.OperationStream("live"), eventstore.Any(), ev(t, uuid.New(), "StepStarted", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		pos, _ := s.SubscriberPosition(ctx, "restart-test")
		if pos == total+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("live event not handled (checkpoint %d)", pos)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("final run: %v", err)
	}

	var n, maxPos int64
	if err := pool.QueryRow(ctx, "SELECT count(*), coalesce(max(position), 0) FROM seen").Scan(&n, &maxPos); err != nil {
		t.Fatal(err)
	}
	if n != total+1 || maxPos != total+1 || repeats.Load() != 0 {
		t.Errorf("seen %d events up to %d with %d repeats; want %d, none repeated", n, maxPos, repeats.Load(), total+1)
	}
	t.Logf("handler calls per event incl. rolled-back batches: %d for %d events", handled.Load(), n)
}
