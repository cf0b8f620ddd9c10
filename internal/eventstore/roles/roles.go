// Package roles grants the event log's database roles. The log is
// append-only by privilege and by trigger (migration 0002): the role that
// owns the tables (the one eventstore.Open first ran as, or a dedicated
// migration role) grants each process only what it needs, so a compromised
// writer can add events but never change or remove one, and cannot sign
// checkpoints unless it also holds the signer's grant.
//
//	writer (API, worker):   SELECT, INSERT on events; SELECT on checkpoints
//	signer (audit signer):  SELECT on events; SELECT, INSERT on checkpoints
//
// A writer that signs in-process (eventstore.Options.Signer) needs both
// grants. OwnerRewrite is the owner's escape hatch from the append-only
// trigger. Package eventstore re-exports these names.
package roles

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// GrantWriter lets role append to and read the log: INSERT and SELECT on
// events, SELECT on checkpoints, the subscription positions of catch-up
// subscribers, and reading the schema version eventstore.Open checks. It
// revokes UPDATE, DELETE and TRUNCATE on the log explicitly, in case an
// earlier grant gave them. pool must be connected as the tables' owner. role must
// exist.
func GrantWriter(ctx context.Context, pool *pgxpool.Pool, role string) error {
	r := pgx.Identifier{role}.Sanitize()
	return grant(ctx, pool, "writer", role,
		"GRANT SELECT, INSERT ON events TO "+r,
		"GRANT SELECT ON checkpoints TO "+r,
		"GRANT SELECT, INSERT, UPDATE ON subscriptions TO "+r,
		"REVOKE UPDATE, DELETE, TRUNCATE ON events, checkpoints FROM "+r)
}

// GrantSigner lets role sign checkpoints: SELECT on events (to read the
// head), SELECT and INSERT on checkpoints, and nothing else.
func GrantSigner(ctx context.Context, pool *pgxpool.Pool, role string) error {
	r := pgx.Identifier{role}.Sanitize()
	return grant(ctx, pool, "signer", role,
		"GRANT SELECT ON events TO "+r,
		"GRANT SELECT, INSERT ON checkpoints TO "+r,
		"REVOKE UPDATE, DELETE, TRUNCATE ON events, checkpoints FROM "+r)
}

func grant(ctx context.Context, pool *pgxpool.Pool, what, role string, stmts ...string) error {
	r := pgx.Identifier{role}.Sanitize()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var schema string
		if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return err
		}
		all := append([]string{
			"GRANT USAGE ON SCHEMA " + pgx.Identifier{schema}.Sanitize() + " TO " + r,
			"GRANT SELECT ON dayops_schema_migrations TO " + r,
		}, stmts...)
		for _, s := range all {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("grant %s role to %s: %w", what, role, err)
	}
	return nil
}

// RewriteSetting is the escape hatch of the append-only trigger: a session
// whose role is a member of the tables' owner role may, inside one
// transaction, SET LOCAL dayops.audit_rewrite = 'allow' and then UPDATE or
// DELETE rows of events and checkpoints. Nothing else can.
const RewriteSetting = "dayops.audit_rewrite"

// OwnerRewrite runs fn in a transaction in which the append-only trigger
// lets the table owner UPDATE and DELETE (TRUNCATE stays refused). It is for
// schema migrations that must rewrite rows and for tests that tamper on
// purpose; pool must be connected as (a member of) the owner role, else the
// trigger still refuses. Whatever fn changes is still caught by verification
// (eventstore.Store.Verify).
func OwnerRewrite(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config($1, 'allow', true)", RewriteSetting); err != nil {
			return err
		}
		return fn(tx)
	})
}
