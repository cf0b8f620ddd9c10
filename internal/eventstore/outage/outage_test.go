package outage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/eventstore/outage"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnavailable: errors of a connection PostgreSQL terminated (what a
// restart or failover does) and of a server that is not there are
// unavailability; answers about the request and a caller's cancellation
// are not. On real PostgreSQL.
func TestUnavailable(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := t.Context()

	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	pid := conn.Conn().PgConn().PID()
	// Answers first, while the connections are up.
	syntax := conn.Conn().QueryRow(ctx, "SELEC 1").Scan(new(int))
	var pgErr *pgconn.PgError
	if !errors.As(syntax, &pgErr) {
		t.Fatalf("syntax error: %v", syntax)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	cancelled := conn.Conn().QueryRow(cctx, "SELECT 1").Scan(new(int))
	db := pgtest.NewTerminator(t, pool.Config().ConnString())
	if n, err := db.Terminate(ctx); err != nil || n == 0 {
		t.Fatalf("terminate the connections (%d, backend %d among them): %v", n, pid, err)
	}
	terminated := conn.Conn().QueryRow(ctx, "SELECT 1").Scan(new(int))
	again := conn.Conn().QueryRow(ctx, "SELECT 1").Scan(new(int))

	// A database that refuses connections for a while (a failover): refused
	// during the outage, accepted after it.
	down := make(chan error, 1)
	go func() {
		_, err := db.Outage(ctx, 600*time.Millisecond)
		down <- err
	}()
	time.Sleep(200 * time.Millisecond)
	_, notAccepting := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err := <-down; err != nil {
		t.Fatalf("outage: %v", err)
	}
	if c, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy()); err != nil {
		t.Fatalf("after the outage: %v", err)
	} else {
		c.Close(ctx)
	}

	nobody := pool.Config().ConnConfig.Copy()
	nobody.Host, nobody.Port = "127.0.0.1", 1
	_, refused := pgx.ConnectConfig(ctx, nobody)

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"terminated backend", terminated, true},
		{"closed connection", again, true},
		{"connection refused", refused, true},
		{"not accepting connections", notAccepting, true},
		{"wrapped", fmt.Errorf("append to x: take append lock: %w", terminated), true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"syntax error", syntax, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"cancelled", cancelled, false},
		{"nil", nil, false},
	} {
		if got := outage.Unavailable(c.err); got != c.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	t.Logf("terminated: %v; then: %v; refused: %v; during an outage: %v", terminated, again, refused, notAccepting)
}
