package e2e

import (
	"bufio"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"github.com/dayops/dayops/internal/testutil/pgtest"
)

// dbOutages is what a databaseOutages did.
type dbOutages struct {
	Outages  int // outages begun
	Backends int // connections they ended
	Errors   int // outages that could not begin
}

// databaseOutages takes the test's database down again and again, as
// PostgreSQL restarts or failovers would: each outage ends every
// connection to it (the API's pool and request audit, the worker's pool,
// the projector's listener) and refuses new ones for `down`, then the
// database is up for `up`; for at most `limit` or until stop
// (pgtest.Terminator.Outage).
type databaseOutages struct {
	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan dbOutages
	result   dbOutages
}

func startDatabaseOutages(t *testing.T, d *dayopstest.Dayops, down, up, limit time.Duration) *databaseOutages {
	t.Helper()
	db := pgtest.NewTerminator(t, d.Config.DatabaseURL)
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	o := &databaseOutages{cancel: cancel, done: make(chan dbOutages, 1)}
	// Before the Terminator's connection closes (cleanups run last first):
	// a test that fails mid-outage still ends it with the database up.
	t.Cleanup(func() { o.stop() })
	go func() {
		var r dbOutages
		defer func() { o.done <- r }()
		for ctx.Err() == nil {
			n, err := db.Outage(ctx, down)
			if err != nil {
				if ctx.Err() == nil {
					r.Errors++
					t.Logf("database outage: %v", err)
				}
			} else {
				r.Outages++
				r.Backends += n
			}
			select {
			case <-ctx.Done():
			case <-time.After(up):
			}
		}
	}()
	return o
}

// stop ends the outages (the database is up again when it returns) and
// says what they did.
func (o *databaseOutages) stop() dbOutages {
	o.stopOnce.Do(func() {
		o.cancel()
		o.result = <-o.done
	})
	return o.result
}

// linesWith returns the lines of the files that contain s.
func linesWith(t *testing.T, s string, paths ...string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Error(err)
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), s) {
				out = append(out, sc.Text())
			}
		}
		f.Close()
	}
	return out
}
