package eventstore_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Each way of shortening or rewriting the log is caught, and named.
func TestVerifyCatchesTampering(t *testing.T) {
	t.Parallel()
	later := time.Now().Add(2 * time.Hour)
	tests := map[string]struct {
		tamper func(t *testing.T, s *eventstore.Store, pool *pgxpool.Pool)
		opts   func(pub ed25519.PublicKey, before []eventstore.Checkpoint) eventstore.VerifyOptions
		want   eventstore.ChainProblem
	}{
		"edit an event as the owner": {
			tamper: func(t *testing.T, _ *eventstore.Store, pool *pgxpool.Pool) {
				exec(t, pool, `UPDATE events SET reason = 'nothing to see' WHERE position = 8`)
			},
			want: eventstore.ProblemHashMismatch,
		},
		"delete the tail": {
			tamper: func(t *testing.T, _ *eventstore.Store, pool *pgxpool.Pool) {
				exec(t, pool, `DELETE FROM events WHERE position > 24`)
			},
			want: eventstore.ProblemTruncated,
		},
		"delete a checkpoint": {
			tamper: func(t *testing.T, _ *eventstore.Store, pool *pgxpool.Pool) {
				exec(t, pool, `DELETE FROM checkpoints WHERE seq = 2`)
			},
			want: eventstore.ProblemCheckpointGap,
		},
		"delete the first checkpoint": {
			tamper: func(t *testing.T, _ *eventstore.Store, pool *pgxpool.Pool) {
				exec(t, pool, `DELETE FROM checkpoints WHERE seq = 1`)
			},
			want: eventstore.ProblemCheckpointGap,
		},
		"re-chain the whole log without the key": {
			tamper: func(t *testing.T, s *eventstore.Store, pool *pgxpool.Pool) { rewriteChain(t, s, pool, true) },
			want:   eventstore.ProblemBadSignature,
		},
		"delete the tail and its checkpoint, compared with copies": {
			tamper: func(t *testing.T, _ *eventstore.Store, pool *pgxpool.Pool) {
				exec(t, pool, `DELETE FROM events WHERE position > 24`)
				exec(t, pool, `DELETE FROM checkpoints WHERE seq = 3`)
			},
			opts: func(pub ed25519.PublicKey, before []eventstore.Checkpoint) eventstore.VerifyOptions {
				return eventstore.VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, External: before}
			},
			want: eventstore.ProblemCheckpointMissing,
		},
		"delete the tail and its checkpoint, with a bound on age": {
			tamper: func(t *testing.T, _ *eventstore.Store, pool *pgxpool.Pool) {
				exec(t, pool, `DELETE FROM events WHERE position > 24`)
				exec(t, pool, `DELETE FROM checkpoints WHERE seq = 3`)
			},
			opts: func(pub ed25519.PublicKey, _ []eventstore.Checkpoint) eventstore.VerifyOptions {
				return eventstore.VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, MaxCheckpointAge: time.Hour, Now: later}
			},
			want: eventstore.ProblemStaleCheckpoint,
		},
		"add a checkpoint signed by another key": {
			tamper: func(t *testing.T, _ *eventstore.Store, pool *pgxpool.Pool) {
				_, other, err := ed25519.GenerateKey(nil)
				if err != nil {
					t.Fatal(err)
				}
				var hash []byte
				if err := pool.QueryRow(t.Context(), "SELECT hash FROM events WHERE position = 30").Scan(&hash); err != nil {
					t.Fatal(err)
				}
				c := eventstore.NewSigner(other).Sign(4, 30, hash, time.Now())
				exec(t, pool, "INSERT INTO checkpoints (seq, position, hash, signed_at, key_id, signature, format) VALUES ($1, $2, $3, $4, $5, $6, 2)",
					c.Seq, c.Position, c.Hash, c.SignedAt, c.KeyID, c.Signature)
			},
			want: eventstore.ProblemBadSignature,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, pool, pub, _ := chainFixture(t)
			before, err := s.Checkpoints(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, s, pool)
			opts := eventstore.VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}}
			if tc.opts != nil {
				opts = tc.opts(pub, before)
			}
			_, err = s.Verify(t.Context(), opts)
			if ce := chainError(t, err); ce.Problem != tc.want {
				t.Errorf("problem %s, want %s", ce.Problem, tc.want)
			}
		})
	}
}

func TestVerifyWithoutCheckpoint(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, eventstore.Options{})
	if _, err := s.Append(t.Context(), eventstore.ClusterStream("a"), eventstore.Any(), ev(t, seqID("nock", 1), "ShardAdded", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	_, err := s.Verify(t.Context(), eventstore.VerifyOptions{})
	if ce := chainError(t, err); ce.Problem != eventstore.ProblemNoCheckpoint {
		t.Errorf("problem %s, want %s", ce.Problem, eventstore.ProblemNoCheckpoint)
	}
	if _, err := s.Verify(t.Context(), eventstore.VerifyOptions{AllowNoCheckpoint: true}); err != nil {
		t.Errorf("allowed: %v", err)
	}
}

// The trigger holds even for the owner (a superuser here): UPDATE, DELETE
// and TRUNCATE are refused without the escape hatch, TRUNCATE with it too.
func TestAppendOnlyTrigger(t *testing.T) {
	t.Parallel()
	_, pool, _, _ := chainFixture(t)
	for _, sql := range []string{
		"UPDATE events SET actor = 'x' WHERE position = 1",
		"DELETE FROM events WHERE position = 30",
		"TRUNCATE events",
		"UPDATE checkpoints SET position = 1",
		"DELETE FROM checkpoints",
		"TRUNCATE checkpoints",
	} {
		if _, err := pool.Exec(t.Context(), sql); !isRefused(err) {
			t.Errorf("%s as the owner: %v, want refused", sql, err)
		}
	}
	err := eventstore.OwnerRewrite(t.Context(), pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(t.Context(), "TRUNCATE events")
		return err
	})
	if !isRefused(err) {
		t.Errorf("TRUNCATE through the escape hatch: %v, want refused", err)
	}
}

func isRefused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}

// testRole creates a LOGIN role for this test and returns a pool connected
// as it to the database of owner. The role is dropped when t ends.
func testRole(t *testing.T, owner *pgxpool.Pool, kind string) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := t.Context()
	role := fmt.Sprintf("dayops_%s_%d", kind, time.Now().UnixNano())
	if _, err := owner.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := owner.Exec(ctx, "DROP OWNED BY "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Errorf("drop owned by %s: %v", role, err)
		}
		if _, err := owner.Exec(ctx, "DROP ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	u, err := url.Parse(owner.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	p, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return role, p
}

// The writer's database user can append and read, nothing more; the signer
// runs apart with its own key and role; verify holds the signer's key.
func TestWriterAndSignerRoles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	owner := pgtest.Pool(t)
	if _, err := eventstore.Open(ctx, owner, eventstore.Options{}); err != nil {
		t.Fatal(err)
	}
	writerRole, writerPool := testRole(t, owner, "writer")
	signerRole, signerPool := testRole(t, owner, "signer")
	if err := eventstore.GrantWriter(ctx, owner, writerRole); err != nil {
		t.Fatal(err)
	}
	if err := eventstore.GrantSigner(ctx, owner, signerRole); err != nil {
		t.Fatal(err)
	}

	writer, err := eventstore.Open(ctx, writerPool, eventstore.Options{})
	if err != nil {
		t.Fatalf("open as the writer: %v", err)
	}
	for i := range 5 {
		if _, err := writer.Append(ctx, eventstore.ClusterStream("a"), eventstore.Any(), ev(t, seqID("role", i), "ShardAdded", map[string]any{"shard": i})); err != nil {
			t.Fatalf("append as the writer: %v", err)
		}
	}
	for _, sql := range []string{
		"UPDATE events SET actor = 'x' WHERE position = 1",
		"DELETE FROM events WHERE position = 5",
		"TRUNCATE events",
		"INSERT INTO checkpoints (seq, position, hash, signed_at, key_id, signature) VALUES (1, 5, decode('00', 'hex'), now(), 'k', decode('00', 'hex'))",
		"UPDATE checkpoints SET position = 1",
		"DELETE FROM checkpoints",
		"TRUNCATE checkpoints",
	} {
		if _, err := writerPool.Exec(ctx, sql); !isRefused(err) {
			t.Errorf("%s as the writer: %v, want permission denied", sql, err)
		}
	}
	// The escape hatch is the owner's only.
	err = eventstore.OwnerRewrite(ctx, writerPool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM events WHERE position = 5")
		return err
	})
	if !isRefused(err) {
		t.Errorf("escape hatch as the writer: %v, want permission denied", err)
	}

	// The signer: its own role and key, in its own "process" (pool).
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sg := eventstore.NewSigner(priv)
	signer, err := eventstore.Open(ctx, signerPool, eventstore.Options{})
	if err != nil {
		t.Fatalf("open as the signer: %v", err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- signer.RunSigner(sctx, sg, eventstore.SignerOptions{Interval: 20 * time.Millisecond}) }()
	waitCheckpoint := func(pos int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			cps, err := writer.Checkpoints(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(cps) > 0 && cps[len(cps)-1].Position == pos {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint at position %d after 10s: %+v", pos, cps)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitCheckpoint(5)
	if _, err := writer.Append(ctx, eventstore.ClusterStream("a"), eventstore.Any(), ev(t, seqID("role", 5), "ShardAdded", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(6)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("RunSigner: %v", err)
	}
	for _, sql := range []string{
		"INSERT INTO events SELECT * FROM events WHERE false",
		"UPDATE checkpoints SET position = 1",
		"DELETE FROM checkpoints",
	} {
		if _, err := signerPool.Exec(ctx, sql); !isRefused(err) {
			t.Errorf("%s as the signer: %v, want permission denied", sql, err)
		}
	}
	rep, err := writer.Verify(ctx, eventstore.VerifyOptions{PublicKeys: []ed25519.PublicKey{sg.Public()}, MaxCheckpointAge: time.Minute})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Events != 6 || rep.Checkpoints != 2 || rep.SignaturesChecked != 2 {
		t.Errorf("report %+v, want 6 events, 2 signed checkpoints", rep)
	}
}

// An idle head is re-signed once its checkpoint is ResignAfter old, so a
// bound on checkpoint age holds for an idle log.
func TestSignerResignsIdleHead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, priv, _ := ed25519.GenerateKey(nil)
	sg := eventstore.NewSigner(priv)
	s, _ := newStore(t, eventstore.Options{})
	if _, err := s.Append(ctx, eventstore.ClusterStream("a"), eventstore.Any(), ev(t, seqID("idle", 0), "ShardAdded", map[string]any{})); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = s.RunSigner(sctx, sg, eventstore.SignerOptions{Interval: 10 * time.Millisecond, ResignAfter: 50 * time.Millisecond})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cps, err := s.Checkpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d checkpoints after 10s, want the idle head re-signed", len(cps))
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if _, err := s.Verify(ctx, eventstore.VerifyOptions{PublicKeys: []ed25519.PublicKey{sg.Public()}, MaxCheckpointAge: time.Second}); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureKeyPair(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), ".dayops")
	priv, pub, err := eventstore.EnsureKeyPair(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(priv)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key %v mode %v, want 0600", err, st.Mode())
	}
	first, _ := os.ReadFile(priv)
	if err := os.Remove(pub); err != nil {
		t.Fatal(err)
	}
	if _, _, err := eventstore.EnsureKeyPair(dir); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(priv)
	if string(first) != string(again) {
		t.Fatal("EnsureKeyPair replaced an existing key")
	}
	k, err := eventstore.ParsePrivateKey(again)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(pub)
	p, err := eventstore.ParsePublicKey(raw)
	if err != nil || !p.Equal(k.Public()) {
		t.Fatalf("public key %v does not match the private key", err)
	}
}
