package pgtest_test

import (
	"testing"

	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestDatabaseCreatedAndDropped(t *testing.T) {
	ctx := t.Context()
	db, err := pgtest.Create(ctx, pgtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil || name != db.Name {
		t.Fatalf("connected to %q (%v), want %q", name, err, db.Name)
	}
	// Drop works with a connection still open (WITH (FORCE)).
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, pgtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", db.Name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database still there: %d (%v)", n, err)
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable": "postgres://postgres@127.0.0.1:5432/x?sslmode=disable",
		"postgresql://u:p@h/db": "postgresql://u:p@h/x",
	} {
		got, err := pgtest.WithDatabase(in, "x")
		if err != nil || got != want {
			t.Errorf("WithDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := pgtest.WithDatabase("host=x dbname=y", "x"); err == nil {
		t.Error("keyword/value strings are not supported and must say so")
	}
}
