package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// runAudit runs `dayops audit <args>` in-process and returns its output.
func runAudit(t *testing.T, url string, args ...string) (string, error) {
	t.Helper()
	cmd := newAuditCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"--database-url", url}, args...))
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func seedAuditLog(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := eventstore.Open(ctx, pool, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	payloads := []audit.Payload{
		audit.OperationRequested{OperationID: "op-1", Cluster: "orders", Kind: "create"},
		audit.OperationStarted{OperationID: "op-1", Cluster: "orders"},
		audit.ClusterCreated{Cluster: "orders", RedisVersion: "7.0.15", Image: "redis:7.0.15", Shards: 1},
		audit.ShardAdded{Cluster: "orders", Shard: 0},
		audit.InstanceCreated{Cluster: "orders", Shard: 0, Ordinal: 0, Pod: "orders-0", Zone: "a", Role: audit.RolePrimary, RedisVersion: "7.0.15"},
		audit.SlotsAssigned{Cluster: "orders", Shard: 0, Slots: []audit.SlotRange{{Start: 0, End: 16383}}},
		audit.OperationCompleted{OperationID: "op-1", Cluster: "orders"},
	}
	for i, p := range payloads {
		e, err := audit.NewEvent(eventstore.StepEventID("wf", "act", i), p, eventstore.Metadata{Actor: "alice", Reason: "new cluster", CorrelationID: "op-1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, audit.Stream(p), eventstore.Any(), e); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

func TestAuditCommands(t *testing.T) {
	url := pgtest.New(t)
	pool := seedAuditLog(t, url)

	// Nothing is signed yet: verify fails unless told that is expected.
	if _, err := runAudit(t, url, "verify"); err == nil || !strings.Contains(err.Error(), string(eventstore.ProblemNoCheckpoint)) {
		t.Fatalf("verify without checkpoint: %v, want %s", err, eventstore.ProblemNoCheckpoint)
	}
	out, err := runAudit(t, url, "verify", "--allow-no-checkpoint")
	if err != nil || !strings.Contains(out, "chain intact: 7 events") {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	out, err = runAudit(t, url, "log", "--cluster", "orders", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l struct {
			Type     string `json:"type"`
			Position int64  `json:"position"`
			Actor    string `json:"actor"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		types = append(types, fmt.Sprintf("%d:%s", l.Position, l.Type))
	}
	if got := strings.Join(types, " "); got != "1:OperationRequested 2:OperationStarted 3:ClusterCreated 4:ShardAdded 5:InstanceCreated 6:SlotsAssigned 7:OperationCompleted" {
		t.Errorf("log json: %s", got)
	}
	out, err = runAudit(t, url, "log", "--type", "ShardAdded,SlotsAssigned", "--since", "1h", "--limit", "1")
	if err != nil || !strings.Contains(out, "ShardAdded") || strings.Contains(out, "SlotsAssigned") || !strings.Contains(out, "--after 4") {
		t.Errorf("log table paged: %v\n%s", err, out)
	}

	out, err = runAudit(t, url, "state", "--cluster", "orders", "--as-of", "4")
	if err != nil || !strings.Contains(out, "0 slots assigned") || !strings.Contains(out, "op-1") {
		t.Errorf("state as of 4: %v\n%s", err, out)
	}
	out, err = runAudit(t, url, "state", "--cluster", "orders")
	if err != nil || !strings.Contains(out, "16384 slots assigned") || !strings.Contains(out, "orders-0") {
		t.Errorf("state now: %v\n%s", err, out)
	}
	if _, err := runAudit(t, url, "state", "--cluster", "nope"); !errors.Is(err, audit.ErrClusterNotFound) {
		t.Errorf("state of unknown cluster: %v", err)
	}

	if out, err := runAudit(t, url, "project"); err != nil || !strings.Contains(out, "projections at position 7") {
		t.Errorf("project: %v\n%s", err, out)
	}

	// Signed checkpoint through the CLI, then verify with the public key.
	prefix := filepath.Join(t.TempDir(), "k")
	if _, err := runAudit(t, url, "keygen", "--out", prefix); err != nil {
		t.Fatal(err)
	}
	if out, err := runAudit(t, url, "checkpoint", "--signing-key", prefix+".key"); err != nil || !strings.Contains(out, "position 7") {
		t.Fatalf("checkpoint: %v\n%s", err, out)
	}
	if out, err := runAudit(t, url, "verify", "--public-key", prefix+".pub"); err != nil || !strings.Contains(out, "all signed") {
		t.Fatalf("verify signed: %v\n%s", err, out)
	}

	// Tamper (as the owner, through the append-only trigger's escape
	// hatch): verify must fail with a non-zero exit code naming position 5.
	err = eventstore.OwnerRewrite(t.Context(), pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE events SET payload = '{"cluster":"orders","ordinal":0,"role":"replica"}' WHERE position = 5`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = runAudit(t, url, "verify", "--public-key", prefix+".pub")
	var ec interface{ ExitCode() int }
	if !errors.As(err, &ec) || ec.ExitCode() == 0 || !strings.Contains(err.Error(), "position 5") {
		t.Fatalf("verify of a tampered log: %v, want a non-zero exit code naming position 5", err)
	}
	t.Log(err)
}

// The signer runs apart (its own key, its own store), copies checkpoints to
// the backup store, and verify --backup-store catches a database rewritten
// without them: the newest events and their checkpoint deleted.
func TestAuditSignerAndBackupStoreCopies(t *testing.T) {
	url := pgtest.New(t)
	pool := seedAuditLog(t, url)
	dir := t.TempDir()
	priv, pub, err := eventstore.EnsureKeyPair(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	bsDir := filepath.Join(dir, "backups")

	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := runAuditCtx(ctx, url, "signer", "--signing-key", priv, "--interval", "20ms", "--backup-store", bsDir)
		done <- err
	}()
	waitCopies := func(n int) {
		t.Helper()
		bs, err := backupstore.Open(t.Context(), bsDir)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			cps, err := audit.ReadCheckpointCopies(t.Context(), bs)
			if err == nil && len(cps) >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d checkpoint copies after 15s (%v), want %d", len(cps), err, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitCopies(1)
	// More events, a second checkpoint and its copy.
	s, err := eventstore.Open(t.Context(), pool, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := audit.NewEvent(eventstore.StepEventID("wf", "act", 99), audit.OperationStarted{OperationID: "op-2", Cluster: "orders"},
		eventstore.Metadata{Actor: "alice", CorrelationID: "op-2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(t.Context(), audit.Stream(audit.OperationStarted{OperationID: "op-2"}), eventstore.Any(), e); err != nil {
		t.Fatal(err)
	}
	waitCopies(2)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("signer: %v", err)
	}

	args := []string{"verify", "--public-key", pub, "--max-checkpoint-age", "1h", "--backup-store", bsDir}
	if out, err := runAudit(t, url, args...); err != nil || !strings.Contains(out, "2 checkpoint copies") {
		t.Fatalf("verify intact: %v\n%s", err, out)
	}
	// Rewrite the database alone: drop the newest event and its checkpoint.
	// The database is consistent again; only the copies tell.
	err = eventstore.OwnerRewrite(t.Context(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), "DELETE FROM events WHERE position = 8"); err != nil {
			return err
		}
		_, err := tx.Exec(t.Context(), "DELETE FROM checkpoints WHERE seq = 2")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runAudit(t, url, "verify", "--public-key", pub); err != nil {
		t.Fatalf("the rewrite is consistent within the database, verify without copies: %v\n%s", err, out)
	}
	_, err = runAudit(t, url, args...)
	if err == nil || !strings.Contains(err.Error(), string(eventstore.ProblemCheckpointMissing)) {
		t.Fatalf("verify --backup-store after a rewrite: %v, want %s", err, eventstore.ProblemCheckpointMissing)
	}
	t.Log(err)
	// And a stale newest checkpoint is caught by the age bound.
	if _, err := runAudit(t, url, "verify", "--public-key", pub, "--max-checkpoint-age", "1ns"); err == nil ||
		!strings.Contains(err.Error(), string(eventstore.ProblemStaleCheckpoint)) {
		t.Fatalf("verify --max-checkpoint-age 1ns: %v, want %s", err, eventstore.ProblemStaleCheckpoint)
	}
}

func runAuditCtx(ctx context.Context, url string, args ...string) (string, error) {
	cmd := newAuditCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"--database-url", url}, args...))
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// `audit grant` run as the owner lets the writer's role append and keep the
// projections, and nothing more; the signer's role can sign.
func TestAuditGrant(t *testing.T) {
	ctx := t.Context()
	url := pgtest.New(t)
	owner := seedAuditLog(t, url)
	suffix := fmt.Sprint(time.Now().UnixNano())
	writer, signer := "dayops_w_"+suffix, "dayops_s_"+suffix
	for _, r := range []string{writer, signer} {
		if _, err := owner.Exec(ctx, "CREATE ROLE "+pgx.Identifier{r}.Sanitize()+" LOGIN"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = owner.Exec(context.Background(), "DROP OWNED BY "+pgx.Identifier{r}.Sanitize())
			if _, err := owner.Exec(context.Background(), "DROP ROLE "+pgx.Identifier{r}.Sanitize()); err != nil {
				t.Errorf("drop role %s: %v", r, err)
			}
		})
	}
	if out, err := runAudit(t, url, "grant", "--writer", writer, "--signer", signer); err != nil {
		t.Fatalf("grant: %v\n%s", err, out)
	}
	as := func(role string) string {
		return strings.Replace(url, "postgres://postgres@", "postgres://"+role+"@", 1)
	}
	if out, err := runAudit(t, as(writer), "project"); err != nil || !strings.Contains(out, "projections at position 7") {
		t.Fatalf("project as the writer: %v\n%s", err, out)
	}
	wp, err := pgxpool.New(ctx, as(writer))
	if err != nil {
		t.Fatal(err)
	}
	defer wp.Close()
	for _, sql := range []string{"DELETE FROM events", "UPDATE events SET actor = 'x'", "TRUNCATE events", "DELETE FROM checkpoints"} {
		if _, err := wp.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "42501") {
			t.Errorf("%s as the writer: %v, want permission denied", sql, err)
		}
	}
	prefix := filepath.Join(t.TempDir(), "k")
	if _, err := runAudit(t, url, "keygen", "--out", prefix); err != nil {
		t.Fatal(err)
	}
	if out, err := runAudit(t, as(signer), "checkpoint", "--signing-key", prefix+".key"); err != nil {
		t.Fatalf("checkpoint as the signer: %v\n%s", err, out)
	}
	if out, err := runAudit(t, as(writer), "verify", "--public-key", prefix+".pub"); err != nil || !strings.Contains(out, "all signed") {
		t.Fatalf("verify as the writer: %v\n%s", err, out)
	}
}
