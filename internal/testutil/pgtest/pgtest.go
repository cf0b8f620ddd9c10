// Package pgtest gives tests a fresh PostgreSQL database of their own on the
// real server and drops it afterwards.
//
// The server is the one named by DATABASE_URL, by default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable (the machine's
// server, trust auth). Each database is named dayops_test_<random hex>,
// created from template0 and dropped WITH (FORCE) at the end, so parallel
// test binaries and engineers never share state. Nothing here is faked.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is used when DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// BaseURL is DATABASE_URL or DefaultURL: the server and the maintenance
// database used to create and drop test databases.
func BaseURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Database is a database created for a test run.
type Database struct {
	Name    string
	URL     string // connection string of the new database
	baseURL string
}

// Create makes a new empty database on the server of baseURL.
func Create(ctx context.Context, baseURL string) (*Database, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	name := "dayops_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return nil, fmt.Errorf("pgtest: connect to %s: %w", redact(baseURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		return nil, fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	u, err := WithDatabase(baseURL, name)
	if err != nil {
		return nil, err
	}
	return &Database{Name: name, URL: u, baseURL: baseURL}, nil
}

// Drop removes the database, closing any connection still open to it.
func (d *Database) Drop(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, d.baseURL)
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.Name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", d.Name, err)
	}
	return nil
}

// WithDatabase returns connString with its database replaced by name. It
// accepts URLs (postgres://...) only.
func WithDatabase(connString, name string) (string, error) {
	u, err := url.Parse(connString)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("pgtest: DATABASE_URL must be a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String(), nil
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// New creates a fresh database for t and drops it when t ends. It returns
// the database's connection URL.
func New(t testing.TB) string {
	t.Helper()
	db, err := Create(t.Context(), BaseURL())
	if err != nil {
		t.Fatalf("%v (is PostgreSQL running on %s? set DATABASE_URL)", err, redact(BaseURL()))
	}
	t.Cleanup(func() {
		if err := db.Drop(context.Background()); err != nil {
			t.Errorf("%v", err)
		}
	})
	return db.URL
}

// Pool creates a fresh database for t and returns a pool on it; the pool is
// closed and the database dropped when t ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := New(t)
	pool, err := pgxpool.New(t.Context(), u)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	t.Cleanup(pool.Close) // registered after the drop, so it runs before it
	return pool
}

var shared *Database

// Main runs a test binary with one database shared by its tests (see
// SharedURL) and drops it afterwards. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	ctx := context.Background()
	db, err := Create(ctx, BaseURL())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared = db
	code := m.Run()
	if err := db.Drop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// SharedURL is the URL of the database Main created for this test binary.
func SharedURL(t testing.TB) string {
	t.Helper()
	if shared == nil {
		t.Fatal("pgtest.SharedURL: call pgtest.Main from TestMain first")
	}
	return shared.URL
}

// Terminator ends every connection to one database, as a PostgreSQL
// restart or failover does to its clients, while the server stays up for
// their next connection. It works from a connection of its own to the
// server's "postgres" database, so it never ends itself. Not safe for
// concurrent use.
type Terminator struct {
	admin *pgx.Conn
	db    string
}

// NewTerminator connects a Terminator for the database of dbURL; it is
// closed when t ends.
func NewTerminator(t testing.TB, dbURL string) *Terminator {
	t.Helper()
	k, err := ConnectTerminator(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(k.Close)
	return k
}

// ConnectTerminator connects a Terminator for the database of dbURL (for a
// benchmark; a test uses NewTerminator). Close it when done.
func ConnectTerminator(ctx context.Context, dbURL string) (*Terminator, error) {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	db := cfg.Database
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("terminator connection: %w", err)
	}
	return &Terminator{admin: admin, db: db}, nil
}

// Close closes the Terminator's connection.
func (k *Terminator) Close() { _ = k.admin.Close(context.Background()) }

// Terminate ends every connection to the database (pg_terminate_backend)
// and returns how many it ended.
func (k *Terminator) Terminate(ctx context.Context) (int, error) {
	var n int
	err := k.admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, k.db).Scan(&n)
	return n, err
}

// Outage makes the database refuse connections for d (ALLOW_CONNECTIONS
// false) and ends every connection it has, as a restart or failover that
// takes d does; then it accepts connections again (also when ctx ends
// first). It returns how many connections it ended.
func (k *Terminator) Outage(ctx context.Context, d time.Duration) (int, error) {
	db := pgx.Identifier{k.db}.Sanitize()
	if _, err := k.admin.Exec(ctx, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS false"); err != nil {
		return 0, err
	}
	defer func() {
		_, _ = k.admin.Exec(context.WithoutCancel(ctx), "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true")
	}()
	n, err := k.Terminate(ctx)
	if err != nil {
		return n, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return n, nil
}
