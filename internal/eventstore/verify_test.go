package eventstore_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	"github.com/dayops/dayops/internal/eventstore"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// chainFixture writes 30 single-event appends with a checkpoint every 10
// events and returns the store, its pool, the public key and the event IDs
// by position.
func chainFixture(t *testing.T) (*eventstore.Store, *pgxpool.Pool, ed25519.PublicKey, map[int64]uuid.UUID) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer := eventstore.NewSigner(priv)
	s, pool := newStore(t, eventstore.Options{Signer: signer, CheckpointEvery: 10})
	ids := map[int64]uuid.UUID{}
	for i := range 30 {
		id := seqID("chain", i)
		r, err := s.Append(t.Context(), eventstore.ClusterStream(fmt.Sprintf("c%d", i%3)), eventstore.Any(),
			ev(t, id, "ShardAdded", map[string]any{"shard": i}))
		if err != nil {
			t.Fatal(err)
		}
		ids[r.Positions[0]] = id
	}
	rep, err := s.Verify(t.Context(), eventstore.VerifyOptions{PublicKeys: []ed25519.PublicKey{signer.Public()}})
	if err != nil {
		t.Fatalf("verify intact chain: %v", err)
	}
	if rep.Events != 30 || rep.Checkpoints != 3 || rep.SignaturesChecked != 3 {
		t.Fatalf("report %+v, want 30 events and 3 signed checkpoints", rep)
	}
	return s, pool, signer.Public(), ids
}

func chainError(t *testing.T, err error) *eventstore.ChainError {
	t.Helper()
	var ce *eventstore.ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("verify = %v, want *ChainError", err)
	}
	if ce.ExitCode() == 0 {
		t.Error("ChainError must exit non-zero")
	}
	t.Log(ce)
	return ce
}

// exec tampers with the log as its owner, through the append-only
// trigger's escape hatch (nothing else may UPDATE or DELETE it).
func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	err := eventstore.OwnerRewrite(t.Context(), pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(t.Context(), sql, args...)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestVerifyNamesEditedEvent(t *testing.T) {
	t.Parallel()
	s, pool, pub, ids := chainFixture(t)
	exec(t, pool, `UPDATE events SET payload = '{"shard":99}' WHERE position = 17`)
	ce := chainError(t, verifyWith(t.Context(), s, pub))
	if ce.Problem != eventstore.ProblemHashMismatch || ce.Position != 17 || ce.EventID != ids[17] {
		t.Errorf("got %v, want hash mismatch at position 17 (event %s)", ce, ids[17])
	}
}

func TestVerifyNamesEditedMetadata(t *testing.T) {
	t.Parallel()
	s, pool, pub, ids := chainFixture(t)
	exec(t, pool, `UPDATE events SET actor = 'somebody-else' WHERE position = 4`)
	ce := chainError(t, verifyWith(t.Context(), s, pub))
	if ce.Problem != eventstore.ProblemHashMismatch || ce.Position != 4 || ce.EventID != ids[4] {
		t.Errorf("got %v, want hash mismatch at position 4", ce)
	}
}

func TestVerifyNamesGap(t *testing.T) {
	t.Parallel()
	s, pool, pub, ids := chainFixture(t)
	exec(t, pool, `DELETE FROM events WHERE position = 12`)
	ce := chainError(t, verifyWith(t.Context(), s, pub))
	if ce.Problem != eventstore.ProblemGap || ce.Position != 12 {
		t.Errorf("got %v, want gap at 12", ce)
	}
	_ = ids
}

func TestVerifyCatchesTruncatedTail(t *testing.T) {
	t.Parallel()
	s, pool, pub, _ := chainFixture(t)
	exec(t, pool, `DELETE FROM events WHERE position > 25`)
	ce := chainError(t, verifyWith(t.Context(), s, pub))
	if ce.Problem != eventstore.ProblemTruncated || ce.Position != 30 {
		t.Errorf("got %v, want truncated at checkpoint 30", ce)
	}
}

// rewriteChain plays an attacker who knows the hash algorithm: it edits one
// payload and recomputes every hash after it so the chain is consistent.
func rewriteChain(t *testing.T, s *eventstore.Store, pool *pgxpool.Pool, alsoCheckpoints bool) {
	t.Helper()
	ctx := t.Context()
	exec(t, pool, `UPDATE events SET payload = '{"shard":1000}' WHERE position = 5`)
	evs, err := s.Query(ctx, eventstore.Filter{WithHashes: true, Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	prev := eventstore.GenesisPrevHash
	newHash := map[int64][]byte{}
	for _, e := range evs {
		h := eventstore.EventHash(eventstore.HashInput{Position: e.Position, PrevHash: prev, ID: e.ID, Stream: e.Stream,
			Version: e.Version, Type: e.Type, SchemaVersion: e.StoredSchemaVersion, Payload: e.Payload,
			Metadata: e.Metadata, RecordedAt: e.RecordedAt})
		exec(t, pool, `UPDATE events SET prev_hash = $2, hash = $3 WHERE position = $1`, e.Position, prev, h)
		newHash[e.Position] = h
		prev = h
	}
	if alsoCheckpoints {
		for pos, h := range newHash {
			exec(t, pool, `UPDATE checkpoints SET hash = $2 WHERE position = $1`, pos, h)
		}
	}
}

func TestVerifySignedCheckpointCatchesConsistentRewrite(t *testing.T) {
	t.Parallel()
	t.Run("checkpoints left alone", func(t *testing.T) {
		t.Parallel()
		s, pool, pub, ids := chainFixture(t)
		rewriteChain(t, s, pool, false)
		// Even without the public key the stored checkpoints disagree.
		ce := chainError(t, verifyWith(t.Context(), s, nil))
		if ce.Problem != eventstore.ProblemCheckpointMismatch || ce.Position != 10 || ce.EventID != ids[10] {
			t.Errorf("got %v, want checkpoint mismatch at 10", ce)
		}
		_ = pub
	})
	t.Run("checkpoints rewritten too", func(t *testing.T) {
		t.Parallel()
		s, pool, pub, _ := chainFixture(t)
		rewriteChain(t, s, pool, true)
		// Without the key the rewrite is invisible: that is why the key exists.
		if err := verifyWith(t.Context(), s, nil); err != nil {
			t.Fatalf("unsigned verify of a consistent rewrite: %v", err)
		}
		ce := chainError(t, verifyWith(t.Context(), s, pub))
		if ce.Problem != eventstore.ProblemBadSignature || ce.Position != 10 {
			t.Errorf("got %v, want bad signature at 10", ce)
		}
	})
}

func verifyWith(ctx context.Context, s *eventstore.Store, pub ed25519.PublicKey) error {
	var keys []ed25519.PublicKey
	if pub != nil {
		keys = append(keys, pub)
	}
	_, err := s.Verify(ctx, eventstore.VerifyOptions{PublicKeys: keys})
	return err
}

func TestKeyRoundTrip(t *testing.T) {
	t.Parallel()
	privPEM, pubPEM, err := eventstore.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := eventstore.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := eventstore.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := eventstore.NewSigner(priv).Sign(1, 7, []byte("0123456789abcdef0123456789abcdef"), priv2time())
	if err := eventstore.VerifyCheckpoint(c, []ed25519.PublicKey{pub}); err != nil {
		t.Fatal(err)
	}
	c.Position = 8
	if err := eventstore.VerifyCheckpoint(c, []ed25519.PublicKey{pub}); err == nil {
		t.Fatal("a changed checkpoint still verifies")
	}
}
