package eventstore

import (
	"context"
	"embed"

	"github.com/dayops/dayops/internal/eventstore/migrate"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Component is the name under which the event store's own migrations are
// recorded in dayops_schema_migrations.
const Component = "eventstore"

// Schema migration is package migrate's; these names keep its callers (the
// audit projection migrates its own tables) as they were.
type SchemaTooNewError = migrate.SchemaTooNewError

var (
	Migrate       = migrate.Migrate
	SchemaVersion = migrate.SchemaVersion
)

func migrateSelf(ctx context.Context, pool *pgxpool.Pool) error {
	return Migrate(ctx, pool, Component, migrationFS, "migrations")
}
