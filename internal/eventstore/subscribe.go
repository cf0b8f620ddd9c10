package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// BatchHandler handles a batch of events inside tx, the transaction that
// also advances the subscriber's checkpoint. When the handler's effects are
// writes through tx, each event takes effect exactly once across crashes and
// restarts: the effects and the checkpoint commit or roll back together.
// Effects outside tx (an HTTP call, a cache) are at-least-once and must be
// idempotent (key them on Event.ID or Event.Position).
type BatchHandler func(ctx context.Context, tx pgx.Tx, events []Event) error

// SubscribeOptions tune Subscribe.
type SubscribeOptions struct {
	BatchSize    int           // events per transaction; default 500
	PollInterval time.Duration // fallback poll when no notification arrives; default 1s
}

// SubscriberPosition returns the stored checkpoint of a subscriber (0 if none).
func (s *Store) SubscriberPosition(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := s.pool.QueryRow(ctx, "SELECT position FROM subscriptions WHERE name = $1", name).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("subscriber %s: read checkpoint: %w", name, err)
	}
	return pos, nil
}

// Subscribe runs the catch-up subscription name until ctx ends or h fails:
// from the stored checkpoint it hands every later event to h in position
// order, in batches, then waits for new events (LISTEN/NOTIFY wakes it,
// polling every PollInterval is the fallback when a notification is lost).
// Because positions are gap-free and in commit order, reading "position >
// checkpoint" never skips an event. The checkpoint row is locked FOR UPDATE
// in each batch's transaction, so two instances of one subscriber never
// handle the same batch. It returns ctx.Err() on cancellation and h's error
// (wrapped) otherwise; the failed batch is rolled back and retried by the
// next Subscribe.
func (s *Store) Subscribe(ctx context.Context, name string, opts SubscribeOptions, h BatchHandler) error {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if _, err := s.pool.Exec(ctx,
		"INSERT INTO subscriptions (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING", name); err != nil {
		return fmt.Errorf("subscriber %s: create checkpoint: %w", name, err)
	}
	listener, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("subscriber %s: connect listener: %w", name, err)
	}
	defer listener.Close(context.WithoutCancel(ctx))
	if _, err := listener.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return fmt.Errorf("subscriber %s: listen: %w", name, err)
	}
	for {
		n, err := s.handleBatch(ctx, name, opts.BatchSize, h)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if n == opts.BatchSize {
			continue // more may be waiting
		}
		if n > 0 {
			continue // cheap check that nothing arrived meanwhile
		}
		wctx, cancel := context.WithTimeout(ctx, opts.PollInterval)
		_, err = listener.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("subscriber %s: wait for notification: %w", name, err)
		}
	}
}

// CatchUp handles every event committed so far and returns the checkpoint
// it reached (the same contract as Subscribe, without waiting).
func (s *Store) CatchUp(ctx context.Context, name string, batchSize int, h BatchHandler) (int64, error) {
	if batchSize <= 0 {
		batchSize = 500
	}
	if _, err := s.pool.Exec(ctx,
		"INSERT INTO subscriptions (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING", name); err != nil {
		return 0, fmt.Errorf("subscriber %s: create checkpoint: %w", name, err)
	}
	for {
		n, err := s.handleBatch(ctx, name, batchSize, h)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return s.SubscriberPosition(ctx, name)
		}
	}
}

func (s *Store) handleBatch(ctx context.Context, name string, size int, h BatchHandler) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var pos int64
		if err := tx.QueryRow(ctx, "SELECT position FROM subscriptions WHERE name = $1 FOR UPDATE", name).Scan(&pos); err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		f := Filter{After: pos, Limit: size}
		q, args := f.sql()
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		var events []Event
		for rows.Next() {
			e, err := s.scanEvent(rows, f)
			if err != nil {
				rows.Close()
				return err
			}
			events = append(events, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		n = len(events)
		if n == 0 {
			return nil
		}
		if err := h(ctx, tx, events); err != nil {
			return fmt.Errorf("handler at positions %d..%d: %w", events[0].Position, events[n-1].Position, err)
		}
		_, err = tx.Exec(ctx, "UPDATE subscriptions SET position = $2, updated_at = now() WHERE name = $1",
			name, events[n-1].Position)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("subscriber %s: %w", name, err)
	}
	return n, nil
}
