package eventstore_test

import (
	"crypto/ed25519"
	"os"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/testutil/pgtest"
)

// A database written before migration 0002 (unnumbered, format-1
// checkpoints) migrates: its checkpoints are numbered in position order and
// still verify, and new ones continue the seq chain in format 2.
func TestMigration0002KeepsLegacyCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.Pool(t)
	sql0001, err := os.ReadFile("migrations/0001_events.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(sql0001), `CREATE TABLE dayops_schema_migrations (component text NOT NULL, version integer NOT NULL,
		name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))`,
		`INSERT INTO dayops_schema_migrations (component, version, name) VALUES ('eventstore', 1, '0001_events.sql')`} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	sg := eventstore.NewSigner(priv)
	// Two events and a legacy checkpoint after each, as the old code wrote them.
	prev := eventstore.GenesisPrevHash
	at := time.Now().UTC().Truncate(time.Microsecond)
	for pos := int64(1); pos <= 2; pos++ {
		id := seqID("legacy", int(pos))
		md := eventstore.Metadata{Actor: "old", Cluster: "a"}
		h := eventstore.EventHash(eventstore.HashInput{Position: pos, PrevHash: prev, ID: id, Stream: "cluster-a", Version: pos,
			Type: "ShardAdded", SchemaVersion: 1, Payload: []byte(`{}`), Metadata: md, RecordedAt: at})
		if _, err := pool.Exec(ctx, `INSERT INTO events (position, event_id, stream, stream_version, event_type, schema_version, payload,
			actor, reason, correlation_id, causation_id, cluster, recorded_at, prev_hash, hash)
			VALUES ($1, $2, 'cluster-a', $1, 'ShardAdded', 1, '{}', 'old', '', '', '', 'a', $3, $4, $5)`, pos, id, at, prev, h); err != nil {
			t.Fatal(err)
		}
		sig := ed25519.Sign(priv, eventstore.CheckpointMessage(pos, h, at))
		if _, err := pool.Exec(ctx, `INSERT INTO checkpoints (position, hash, signed_at, key_id, signature) VALUES ($1, $2, $3, $4, $5)`,
			pos, h, at, eventstore.KeyID(sg.Public()), sig); err != nil {
			t.Fatal(err)
		}
		prev = h
	}

	s, err := eventstore.Open(ctx, pool, eventstore.Options{Signer: sg, CheckpointEvery: 1})
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if _, err := s.Append(ctx, eventstore.ClusterStream("a"), eventstore.Exact(2), ev(t, seqID("legacy", 3), "ShardAdded", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	cps, err := s.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 3 || cps[0].Seq != 1 || cps[0].Format != 1 || cps[1].Seq != 2 || cps[1].Format != 1 || cps[2].Seq != 3 || cps[2].Format != 2 {
		t.Fatalf("checkpoints after migration: %+v", cps)
	}
	rep, err := s.Verify(ctx, eventstore.VerifyOptions{PublicKeys: []ed25519.PublicKey{sg.Public()}})
	if err != nil || rep.SignaturesChecked != 3 {
		t.Fatalf("verify after migration: %+v %v", rep, err)
	}
}
