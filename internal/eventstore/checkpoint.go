package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

const checkpointColumns = "seq, position, hash, signed_at, key_id, signature, format"

func scanCheckpoint(r pgx.Row, c *Checkpoint) error {
	var format int16
	if err := r.Scan(&c.Seq, &c.Position, &c.Hash, &c.SignedAt, &c.KeyID, &c.Signature, &format); err != nil {
		return err
	}
	c.Format = int(format)
	return nil
}

const insertCheckpoint = "INSERT INTO checkpoints (" + checkpointColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7)"

func checkpointArgs(c Checkpoint) []any {
	return []any{c.Seq, c.Position, c.Hash, c.SignedAt, c.KeyID, c.Signature, int16(c.Format)}
}

// Checkpoint signs the current head now (if it is not signed yet) with
// Options.Signer and returns the checkpoint; ok is false when the log is
// empty. It takes the append lock, so the head cannot move meanwhile.
func (s *Store) Checkpoint(ctx context.Context) (c Checkpoint, ok bool, err error) {
	if s.opts.Signer == nil {
		return c, false, errors.New("checkpoint: no signing key configured")
	}
	c, ok, _, err = s.checkpoint(ctx, s.opts.Signer, 0)
	return c, ok, err
}

// checkpoint signs the head with sg unless the newest checkpoint already
// covers it and is younger than refresh (refresh <= 0: never re-sign an
// unchanged head). created says whether a new checkpoint was written.
func (s *Store) checkpoint(ctx context.Context, sg *Signer, refresh time.Duration) (c Checkpoint, ok, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", appendLockKey); err != nil {
			return err
		}
		var pos pgtype.Int8
		var hash []byte
		var clock time.Time
		if err := tx.QueryRow(ctx, `SELECT clock_timestamp(),
				(SELECT position FROM events ORDER BY position DESC LIMIT 1),
				(SELECT hash FROM events ORDER BY position DESC LIMIT 1)`).Scan(&clock, &pos, &hash); err != nil {
			return err
		}
		if !pos.Valid {
			return nil
		}
		ok = true
		var last Checkpoint
		err := scanCheckpoint(tx.QueryRow(ctx, "SELECT "+checkpointColumns+" FROM checkpoints ORDER BY seq DESC LIMIT 1"), &last)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case last.Position == pos.Int64 && (refresh <= 0 || clock.Sub(last.SignedAt) < refresh):
			c = last
			return nil
		}
		c = sg.Sign(last.Seq+1, pos.Int64, hash, clock)
		created = true
		_, err = tx.Exec(ctx, insertCheckpoint, checkpointArgs(c)...)
		return err
	})
	if err != nil {
		return Checkpoint{}, false, false, fmt.Errorf("checkpoint: %w", err)
	}
	return c, ok, created, nil
}

// Checkpoints returns all stored checkpoints in seq order.
func (s *Store) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+checkpointColumns+" FROM checkpoints ORDER BY seq")
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Checkpoint, error) {
		var c Checkpoint
		err := scanCheckpoint(r, &c)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return cs, nil
}
