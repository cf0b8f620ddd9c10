package projection

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Component is the schema component of the projection tables.
const Component = "audit"

// SubscriberName is the subscription that keeps the projection tables.
const SubscriberName = "audit-projections"

// Projector keeps the projections in PostgreSQL (audit_cluster_state,
// audit_operation_timeline) up to date from the store's subscription.
// Each batch reads the rows it touches, folds the events in, writes them
// back and advances the checkpoint in one transaction: exactly once.
type Projector struct {
	store *eventstore.Store
}

// NewProjector applies the projection tables' migrations.
func NewProjector(ctx context.Context, s *eventstore.Store) (*Projector, error) {
	if err := eventstore.Migrate(ctx, s.Pool(), Component, migrationFS, "migrations"); err != nil {
		return nil, err
	}
	return &Projector{store: s}, nil
}

// Run follows the log until ctx ends (see eventstore.Store.Subscribe) and
// returns ctx's error. A failed batch (database unavailable, or an event the
// projection cannot decode) is rolled back, logged, and retried after a
// backoff growing from 1s to 30s: the projection waits at the failed event
// rather than skip it, and resumes from its checkpoint.
func (p *Projector) Run(ctx context.Context, opts eventstore.SubscribeOptions) error {
	backoff := time.Second
	for {
		start := time.Now()
		err := p.store.Subscribe(ctx, SubscriberName, opts, p.handle)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		p.store.Logger().Error("audit projector failed; retrying", "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// CatchUp applies every committed event and returns the position reached.
func (p *Projector) CatchUp(ctx context.Context) (int64, error) {
	return p.store.CatchUp(ctx, SubscriberName, 1000, p.handle)
}

func (p *Projector) handle(ctx context.Context, tx pgx.Tx, events []eventstore.Event) error {
	type decoded struct {
		e  eventstore.Event
		pl audit.Payload
	}
	ds := make([]decoded, 0, len(events))
	clusters, ops := map[string]bool{}, map[string]bool{}
	for _, e := range events {
		pl, err := audit.Decode(e.Type, e.SchemaVersion, e.Payload)
		if errors.Is(err, audit.ErrUnknownEventType) {
			continue
		}
		if err != nil {
			return fmt.Errorf("event at position %d: %w", e.Position, err)
		}
		ds = append(ds, decoded{e, pl})
		if c := pl.ClusterName(); c != "" {
			clusters[c] = true
		}
		if op, ok := audit.OperationOf(pl); ok {
			ops[op] = true
		}
	}
	if len(ds) == 0 {
		return nil
	}
	proj := NewProjection()
	if err := proj.loadStored(ctx, tx, keys(clusters), keys(ops)); err != nil {
		return err
	}
	for _, d := range ds {
		proj.ApplyPayload(d.e, d.pl)
	}
	b := &pgx.Batch{}
	for name, c := range proj.Clusters {
		js, err := json.Marshal(c)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO audit_cluster_state (cluster, position, state) VALUES ($1, $2, $3)
			ON CONFLICT (cluster) DO UPDATE SET position = excluded.position, state = excluded.state`, name, c.Position, js)
	}
	for id, t := range proj.Operations {
		js, err := json.Marshal(t)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO audit_operation_timeline (operation_id, cluster, position, state) VALUES ($1, $2, $3, $4)
			ON CONFLICT (operation_id) DO UPDATE SET cluster = excluded.cluster, position = excluded.position, state = excluded.state`,
			id, t.Cluster, t.Position, js)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store projections: %w", err)
	}
	return nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// loadStored reads stored cluster states and timelines into proj: those of
// the named clusters and operations, or every one when both are nil.
func (proj *Projection) loadStored(ctx context.Context, q querier, clusters, ops []string) error {
	clusterSQL, opSQL := "SELECT state FROM audit_cluster_state", "SELECT state FROM audit_operation_timeline"
	var clusterArgs, opArgs []any
	if clusters != nil || ops != nil {
		clusterSQL += " WHERE cluster = ANY($1)"
		opSQL += " WHERE operation_id = ANY($1)"
		clusterArgs, opArgs = []any{clusters}, []any{ops}
	}
	if err := loadJSON(ctx, q, clusterSQL, func(c *ClusterState) { proj.Clusters[c.Name] = c }, clusterArgs...); err != nil {
		return fmt.Errorf("load cluster states: %w", err)
	}
	if err := loadJSON(ctx, q, opSQL, func(t *Timeline) { proj.Operations[t.OperationID] = t }, opArgs...); err != nil {
		return fmt.Errorf("load timelines: %w", err)
	}
	return nil
}

// loadJSON decodes the single JSON column of every row sql selects into a
// new T and hands it to put.
func loadJSON[T any](ctx context.Context, q querier, sql string, put func(*T), args ...any) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
		v := new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return err
		}
		put(v)
	}
	return rows.Err()
}

// Load reads the whole stored projection (for comparison with Rebuild and
// for the API); Position is the subscription's checkpoint.
func (p *Projector) Load(ctx context.Context) (*Projection, error) {
	proj := NewProjection()
	if err := proj.loadStored(ctx, p.store.Pool(), nil, nil); err != nil {
		return nil, err
	}
	pos, err := p.store.SubscriberPosition(ctx, SubscriberName)
	if err != nil {
		return nil, err
	}
	proj.Position = pos
	return proj, nil
}

// Cluster returns the stored (live) state of one cluster.
func (p *Projector) Cluster(ctx context.Context, name string) (*ClusterState, error) {
	var b []byte
	err := p.store.Pool().QueryRow(ctx, "SELECT state FROM audit_cluster_state WHERE cluster = $1", name).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %q", ErrClusterNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("load cluster %s: %w", name, err)
	}
	var c ClusterState
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("load cluster %s: %w", name, err)
	}
	return &c, nil
}

func sortTimelines(ts []*Timeline) {
	sort.Slice(ts, func(i, j int) bool {
		if !ts[i].RequestedAt.Equal(ts[j].RequestedAt) {
			return ts[i].RequestedAt.Before(ts[j].RequestedAt)
		}
		return ts[i].OperationID < ts[j].OperationID
	})
}

// GrantProjections lets role maintain the projection tables (the API runs
// the projector): SELECT, INSERT, UPDATE, DELETE on them, nothing on the
// log itself (eventstore.GrantWriter does that). pool must be connected as
// the tables' owner, after the projector's migrations ran (NewProjector).
func GrantProjections(ctx context.Context, pool *pgxpool.Pool, role string) error {
	r := pgx.Identifier{role}.Sanitize()
	if _, err := pool.Exec(ctx, "GRANT SELECT, INSERT, UPDATE, DELETE ON audit_cluster_state, audit_operation_timeline TO "+r); err != nil {
		return fmt.Errorf("grant projection tables to %s: %w", role, err)
	}
	return nil
}
