// Package migrate applies a component's embedded SQL migrations
// (NNNN_description.sql, versions 1..n) in order, each in its own
// transaction, under a session advisory lock, and records them in
// dayops_schema_migrations per component. A database with a newer version
// than the binary knows is refused (*SchemaTooNewError). Package eventstore
// migrates its own tables with it, and re-exports Migrate and SchemaVersion.
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLockKey is the session-level advisory lock taken while migrating,
// so that several processes starting at once apply each migration once.
const migrationLockKey int64 = 0x6461796f70730001 // "dayops" + 1

// SchemaTooNewError is returned when the database holds migrations newer than
// this binary knows: running an old binary against a newer schema could write
// rows the newer code does not expect, so the store refuses to start.
type SchemaTooNewError struct {
	Component string
	Database  int // highest version applied in the database
	Known     int // highest version embedded in this binary
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("schema %q is at version %d but this dayops binary knows only up to version %d: upgrade dayops before using this database",
		e.Component, e.Database, e.Known)
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", e.Name())
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: bad version number", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must be 1..n without gaps", m.name)
		}
	}
	return ms, nil
}

// Migrate applies the embedded SQL migrations found in dir of fsys under the
// given component name, in order, each in its own transaction, while holding
// a session-level advisory lock. It returns *SchemaTooNewError when the
// database is ahead of the embedded files. Other packages (internal/audit)
// use it for their own tables under their own component name.
func Migrate(ctx context.Context, pool *pgxpool.Pool, component string, fsys fs.FS, dir string) error {
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: acquire connection: %w", component, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("migrate %s: take lock: %w", component, err)
	}
	defer func() {
		// Unlock with a fresh context: the caller's may be cancelled already.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey)
	}()
	// A role that only writes or signs may not CREATE in the schema (and
	// PostgreSQL checks that before IF NOT EXISTS): create the version
	// table only when it is missing.
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('dayops_schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("migrate %s: look for version table: %w", component, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS dayops_schema_migrations (
			component  text        NOT NULL,
			version    integer     NOT NULL,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (component, version))`); err != nil {
			return fmt.Errorf("migrate %s: create version table: %w", component, err)
		}
	}
	var current int
	if err := conn.QueryRow(ctx,
		"SELECT coalesce(max(version), 0) FROM dayops_schema_migrations WHERE component = $1", component).Scan(&current); err != nil {
		return fmt.Errorf("migrate %s: read version: %w", component, err)
	}
	if current > len(ms) {
		return &SchemaTooNewError{Component: component, Database: current, Known: len(ms)}
	}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO dayops_schema_migrations (component, version, name) VALUES ($1, $2, $3)",
				component, m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: apply %s: %w", component, m.name, err)
		}
	}
	return nil
}

// SchemaVersion reports the applied and the embedded version of a component.
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool, component string) (int, error) {
	var v int
	err := pool.QueryRow(ctx,
		"SELECT coalesce(max(version), 0) FROM dayops_schema_migrations WHERE component = $1", component).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version of %s: %w", component, err)
	}
	return v, nil
}
