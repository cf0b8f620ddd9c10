package eventstore_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

func newStore(t *testing.T, opts eventstore.Options) (*eventstore.Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	s, err := eventstore.Open(t.Context(), pool, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, pool
}

func ev(t testing.TB, id uuid.UUID, typ string, payload any) eventstore.EventData {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.EventData{ID: id, Type: typ, SchemaVersion: 1, Payload: b,
		Metadata: eventstore.Metadata{Actor: "tester", Reason: "test", CorrelationID: "op-1"}}
}

func seqID(prefix string, i int) uuid.UUID { return eventstore.NameEventID(prefix, fmt.Sprint(i)) }

func priv2time() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC) }

// moreStores opens n more Stores on the database of pool, each with its own
// pool: like separate processes, they share only PostgreSQL (the advisory
// lock and the constraints), not a group committer.
func moreStores(t *testing.T, pool *pgxpool.Pool, n int) []*eventstore.Store {
	t.Helper()
	var out []*eventstore.Store
	for range n {
		p, err := pgxpool.NewWithConfig(t.Context(), pool.Config().Copy())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		s, err := eventstore.Open(t.Context(), p, eventstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
