// Package outage tells when PostgreSQL could not be reached or dropped a
// connection (a restart, a failover) and sends an audit append again while
// that lasts: appends are idempotent by event ID, so sending one again is
// always safe.
package outage

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/dayops/dayops/internal/eventstore"
	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err says that PostgreSQL could not be reached
// or dropped the connection (a restart, a failover, a terminated backend,
// too many connections) rather than answering the request. An Append that
// failed so may be sent again at once: appends are idempotent by event ID,
// so one whose commit went through before the connection dropped is found
// and not written twice. A cancelled or expired context is not
// unavailability: the caller gave up.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true // no connection: whatever the server said, it did not take the request
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now
			"53300": // too many connections
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection exception
	}
	var netErr net.Error
	return pgconn.SafeToRetry(err) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// Append is s.Append, sent again while the database is Unavailable,
// after a pause growing from 50 ms to 1 s, until it goes through, fails
// otherwise, ctx ends or the next try would start after limit. Sending an
// append again is safe: its event IDs make a second commit a no-op. tries
// counts the appends sent.
func Append(ctx context.Context, s *eventstore.Store, limit time.Duration, stream eventstore.StreamName,
	expected eventstore.ExpectedVersion, events ...eventstore.EventData) (res eventstore.AppendResult, tries int, err error) {
	began := time.Now()
	wait := 50 * time.Millisecond
	for {
		tries++
		res, err = s.Append(ctx, stream, expected, events...)
		if err == nil || !Unavailable(err) || time.Since(began)+wait > limit {
			return res, tries, err
		}
		select {
		case <-ctx.Done():
			return res, tries, err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
