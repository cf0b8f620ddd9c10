// Package auditdb is the offline mode of `dayops audit`: the audit verbs
// reading (and, for checkpoint, project, signer and grant, writing) the
// event store in PostgreSQL directly, through the same auditquery code the
// API serves, and the reader of the signer's checkpoint copies (verify
// --backup-store, in either mode). It lives apart from package cli so that
// the REST client links no database driver; cmd/dayops wires it in with
// Offline.
package auditdb

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/auditquery"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/cli/auditcli"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Offline is the offline mode for auditcli.AuditCmd.
func Offline() auditcli.Offline {
	return auditcli.Offline{
		Open: func(ctx context.Context, url string) (auditcli.AuditDB, error) {
			db, err := Open(ctx, url)
			if err != nil {
				return nil, err
			}
			return db, nil
		},
		GenerateKey:      eventstore.GenerateKey,
		CheckpointCopies: CheckpointCopies,
	}
}

// CheckpointCopies reads the checkpoint copies in the backup store at
// storeURL, in their wire form.
func CheckpointCopies(ctx context.Context, storeURL string) ([]apiv1.AuditCheckpointCopy, error) {
	bs, err := backupstore.Open(ctx, storeURL)
	if err != nil {
		return nil, err
	}
	cps, err := audit.ReadCheckpointCopies(ctx, bs)
	if err != nil {
		return nil, err
	}
	out := make([]apiv1.AuditCheckpointCopy, 0, len(cps))
	for _, c := range cps {
		out = append(out, apiv1.AuditCheckpointCopy{Seq: c.Seq, Position: c.Position, Hash: c.Hash, SignedAt: c.SignedAt,
			KeyID: c.KeyID, Signature: c.Signature, Format: c.Format})
	}
	return out, nil
}

// DB is the event store opened directly.
type DB struct {
	pool  *pgxpool.Pool
	store *eventstore.Store
	q     auditquery.Service
}

// Open connects to the event store at url.
func Open(ctx context.Context, url string) (*DB, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect to the event store: %w", err)
	}
	s, err := eventstore.Open(ctx, pool, eventstore.Options{Upcasters: audit.Upcasters(), Logger: slog.Default()})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open the event store: %w", err)
	}
	return &DB{pool: pool, store: s, q: auditquery.Service{Store: s}}, nil
}

// Close closes the connections.
func (d *DB) Close() { d.pool.Close() }

// Events reads a page of events.
func (d *DB) Events(ctx context.Context, q apiv1.AuditEventQuery) (apiv1.EventPage, error) {
	return d.q.Events(ctx, q)
}

// Verify recomputes the chain.
func (d *DB) Verify(ctx context.Context, req apiv1.AuditVerifyRequest) (apiv1.AuditVerifyReport, error) {
	return d.q.Verify(ctx, req)
}

// State replays a cluster as of asOf.
func (d *DB) State(ctx context.Context, cluster, asOf string) (apiv1.AuditState, error) {
	return d.q.State(ctx, cluster, asOf, time.Now())
}

// Checkpoint signs the chain's head with the key at signingKeyPath (or
// eventstore.EnvSigningKey).
func (d *DB) Checkpoint(ctx context.Context, signingKeyPath string) (apiv1.AuditCheckpoint, bool, error) {
	signer, err := eventstore.LoadSigner(signingKeyPath)
	if err != nil {
		return apiv1.AuditCheckpoint{}, false, fmt.Errorf("--signing-key: %w", err)
	}
	if signer == nil {
		return apiv1.AuditCheckpoint{}, false, fmt.Errorf("--signing-key or %s is required", eventstore.EnvSigningKey)
	}
	c, ok, err := d.store.WithSigner(signer).Checkpoint(ctx)
	if err != nil || !ok {
		return apiv1.AuditCheckpoint{}, ok, err
	}
	return apiv1.AuditCheckpoint{Position: c.Position, Hash: fmt.Sprintf("%x", c.Hash), KeyID: c.KeyID, SignedAt: c.SignedAt}, true, nil
}

// Project catches the projection tables up and, with follow, keeps them so
// until ctx ends.
func (d *DB) Project(ctx context.Context, follow bool, caughtUp func(position int64)) error {
	pj, err := projection.NewProjector(ctx, d.store)
	if err != nil {
		return err
	}
	pos, err := pj.CatchUp(ctx)
	if err != nil {
		return err
	}
	caughtUp(pos)
	if !follow {
		return nil
	}
	return pj.Run(ctx, eventstore.SubscribeOptions{})
}

// Signer runs the checkpoint signer until ctx ends: its own key, and with
// cfg.BackupStore every checkpoint copied out of the database after each
// look.
func (d *DB) Signer(ctx context.Context, cfg auditcli.SignerConfig, started func(keyID string, interval time.Duration)) error {
	signer, err := eventstore.LoadSigner(cfg.SigningKeyPath)
	if err != nil {
		return fmt.Errorf("--signing-key: %w", err)
	}
	if signer == nil {
		return fmt.Errorf("--signing-key or %s is required", eventstore.EnvSigningKey)
	}
	opts := eventstore.SignerOptions{Interval: cfg.Interval, ResignAfter: cfg.ResignAfter}
	if cfg.BackupStore != "" {
		bs, err := backupstore.Open(ctx, cfg.BackupStore)
		if err != nil {
			return fmt.Errorf("--backup-store: %w", err)
		}
		opts.AfterSign = func(ctx context.Context) error {
			_, err := audit.CopyCheckpoints(ctx, d.store, bs)
			return err
		}
	}
	started(eventstore.KeyID(signer.Public()), cmp.Or(opts.Interval, eventstore.DefaultSignInterval))
	return d.store.RunSigner(ctx, signer, opts)
}

// Grant gives the writers the writer's privileges on the log and the
// projection tables (which it creates first, as the API maintains them), and
// the signers the signer's.
func (d *DB) Grant(ctx context.Context, writers, signers []string, granted func(role, privileges string)) error {
	if len(writers) > 0 {
		if _, err := projection.NewProjector(ctx, d.store); err != nil {
			return err
		}
	}
	for _, r := range writers {
		if err := eventstore.GrantWriter(ctx, d.pool, r); err != nil {
			return err
		}
		if err := projection.GrantProjections(ctx, d.pool, r); err != nil {
			return err
		}
		granted(r, "writer (INSERT, SELECT on events; SELECT on checkpoints; the projection tables)")
	}
	for _, r := range signers {
		if err := eventstore.GrantSigner(ctx, d.pool, r); err != nil {
			return err
		}
		granted(r, "signer (SELECT on events; INSERT, SELECT on checkpoints)")
	}
	return nil
}
