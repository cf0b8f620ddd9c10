package auditcli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/cli/auditcli"
	"github.com/dayops/dayops/internal/cli/auditdb"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const auditorToken = "test-auditor-token-0123456789"

// auditEnv is one audit log in a fresh PostgreSQL database, served by the
// real REST API.
type auditEnv struct {
	url  string // the database
	pool *pgxpool.Pool
	api  string // the API's base URL
}

func newAuditEnv(t *testing.T) *auditEnv {
	t.Helper()
	ctx := t.Context()
	e := &auditEnv{url: pgtest.New(t)}
	pool, err := pgxpool.New(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.pool = pool
	s, err := eventstore.Open(ctx, pool, eventstore.Options{Upcasters: audit.Upcasters()})
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
		ev, err := audit.NewEvent(eventstore.StepEventID("wf", "act", i), p, eventstore.Metadata{Actor: "alice", Reason: "new cluster", CorrelationID: "op-1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, audit.Stream(p), eventstore.Any(), ev); err != nil {
			t.Fatal(err)
		}
	}
	api := httpapi.New(httpapi.Deps{Store: s, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Tokens: httpapi.Tokens{auditorToken: {Subject: "test-auditor", Role: httpapi.RoleAuditor}}})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	e.api = srv.URL
	return e
}

// run runs `dayops audit <args>` in-process: online through the API, or
// offline (--db) when offline is set.
func (e *auditEnv) run(t *testing.T, offline bool, args ...string) (string, error) {
	t.Helper()
	t.Setenv("DAYOPS_API", e.api)
	t.Setenv("DAYOPS_TOKEN", auditorToken)
	t.Setenv(auditcli.EnvAuditDB, "")
	t.Setenv(auditcli.EnvServerDB, "")
	t.Setenv(auditcli.EnvSignerBackupStore, "")
	if offline {
		args = append([]string{"--db", e.url}, args...)
	}
	return runAudit(t.Context(), args...)
}

// runAudit runs `dayops audit <args>` in-process with the environment as it
// is (no t.Setenv: a signer runs it from a goroutine).
func runAudit(ctx context.Context, args ...string) (string, error) {
	cmd := auditcli.AuditCmd(auditdb.Offline())
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// TestAuditVerbs runs the reading verbs both ways, through the real API and
// offline against PostgreSQL: they must answer alike.
func TestAuditVerbs(t *testing.T) {
	e := newAuditEnv(t)
	for _, mode := range []struct {
		name    string
		offline bool
	}{{"api", false}, {"offline", true}} {
		t.Run(mode.name, func(t *testing.T) {
			run := func(args ...string) (string, error) { return e.run(t, mode.offline, args...) }
			// Nothing is signed yet: verify fails (exit 2) unless told that
			// is expected.
			_, err := run("verify")
			var ec interface{ ExitCode() int }
			if !errors.As(err, &ec) || ec.ExitCode() != 2 || !strings.Contains(err.Error(), string(eventstore.ProblemNoCheckpoint)) {
				t.Fatalf("verify without checkpoint: %v, want exit 2 naming %s", err, eventstore.ProblemNoCheckpoint)
			}
			out, err := run("verify", "--allow-no-checkpoint")
			if err != nil || !strings.Contains(out, "chain intact: 7 events") || !strings.Contains(out, "allowed by --allow-no-checkpoint") {
				t.Fatalf("verify --allow-no-checkpoint: %v\n%s", err, out)
			}
			if _, err := run("verify", "--max-checkpoint-age", "-1s"); err == nil || !strings.Contains(err.Error(), "max-checkpoint-age") {
				t.Errorf("verify --max-checkpoint-age -1s: %v, want a rejection", err)
			}

			out, err = run("log", "--cluster", "orders", "--output", "json")
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var l struct {
					Type     string         `json:"type"`
					Position int64          `json:"position"`
					Actor    string         `json:"actor"`
					Hash     string         `json:"hash"`
					Version  int64          `json:"version"`
					Payload  map[string]any `json:"payload"`
				}
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				if l.Actor != "alice" || len(l.Hash) != 64 || l.Version == 0 || l.Payload["cluster"] != "orders" {
					t.Errorf("line %q: want actor alice, a hash, a version and the payload", line)
				}
				types = append(types, fmt.Sprintf("%d:%s", l.Position, l.Type))
			}
			if got := strings.Join(types, " "); got != "1:OperationRequested 2:OperationStarted 3:ClusterCreated 4:ShardAdded 5:InstanceCreated 6:SlotsAssigned 7:OperationCompleted" {
				t.Errorf("log json: %s", got)
			}
			out, err = run("log", "--type", "ShardAdded,SlotsAssigned", "--since", "1h", "--limit", "1")
			if err != nil || !strings.Contains(out, "ShardAdded") || strings.Contains(out, "SlotsAssigned") || !strings.Contains(out, "--after 4") {
				t.Errorf("log table paged: %v\n%s", err, out)
			}
			out, err = run("log", "--reverse", "--limit", "2")
			if err != nil || !strings.Contains(out, "OperationCompleted") || !strings.Contains(out, "SlotsAssigned") || strings.Contains(out, "InstanceCreated") {
				t.Errorf("log reverse: %v\n%s", err, out)
			}

			out, err = run("state", "--cluster", "orders", "--as-of", "4")
			if err != nil || !strings.Contains(out, "0 slots assigned") || !strings.Contains(out, "op-1") || !strings.Contains(out, "as of position 4") {
				t.Errorf("state as of 4: %v\n%s", err, out)
			}
			out, err = run("state", "--cluster", "orders")
			if err != nil || !strings.Contains(out, "16384 slots assigned") || !strings.Contains(out, "orders-0") {
				t.Errorf("state now: %v\n%s", err, out)
			}
			out, err = run("state", "--cluster", "orders", "--output", "json")
			var st struct {
				AsOf    string `json:"as_of"`
				Cluster struct {
					Name      string                    `json:"name"`
					Instances map[string]map[string]any `json:"instances"`
				} `json:"cluster"`
				Operations []map[string]any `json:"operations"`
			}
			if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.AsOf != "now" || st.Cluster.Name != "orders" ||
				st.Cluster.Instances["0"]["pod"] != "orders-0" || len(st.Operations) != 1 || st.Operations[0]["operation_id"] != "op-1" {
				t.Errorf("state json: %v\n%s", err, out)
			}
			_, err = run("state", "--cluster", "nope")
			var apiErr *cli.APIError
			if mode.offline && !errors.Is(err, projection.ErrClusterNotFound) || !mode.offline && (!errors.As(err, &apiErr) || apiErr.Status != 404) {
				t.Errorf("state of an unknown cluster: %v", err)
			}
			if _, err := run("state", "--cluster", "orders", "--as-of", "soon"); err == nil || !strings.Contains(err.Error(), "as-of") {
				t.Errorf("state --as-of soon: %v, want a rejection naming as-of", err)
			}
		})
	}
}

// TestAuditChainOfTrust signs a checkpoint offline (only the database holder
// can), verifies it through the API and offline with the public key, then
// tampers with an event: both modes exit 2 naming it.
func TestAuditChainOfTrust(t *testing.T) {
	e := newAuditEnv(t)
	if out, err := e.run(t, false, "project"); err == nil || !strings.Contains(err.Error(), "--db") {
		t.Errorf("project without --db: %v %s, want an error asking for offline mode", err, out)
	}
	if out, err := e.run(t, true, "project"); err != nil || !strings.Contains(out, "projections at position 7") {
		t.Errorf("project: %v\n%s", err, out)
	}
	prefix := filepath.Join(t.TempDir(), "k")
	if _, err := e.run(t, false, "keygen", "--out", prefix); err != nil {
		t.Fatal(err)
	}
	if out, err := e.run(t, true, "checkpoint", "--signing-key", prefix+".key"); err != nil || !strings.Contains(out, "position 7") {
		t.Fatalf("checkpoint: %v\n%s", err, out)
	}
	for _, offline := range []bool{false, true} {
		if out, err := e.run(t, offline, "verify", "--public-key", prefix+".pub", "--max-checkpoint-age", "1h"); err != nil ||
			!strings.Contains(out, "all signed") || !strings.Contains(out, "newest checkpoint: 1, signed") {
			t.Fatalf("verify signed (offline %v): %v\n%s", offline, err, out)
		}
		if out, err := e.run(t, offline, "verify"); err != nil || !strings.Contains(out, "NOT checked") {
			t.Fatalf("verify without the public key (offline %v): %v\n%s", offline, err, out)
		}
		_, err := e.run(t, offline, "verify", "--public-key", prefix+".pub", "--max-checkpoint-age", "1ns")
		if err == nil || !strings.Contains(err.Error(), string(eventstore.ProblemStaleCheckpoint)) {
			t.Fatalf("verify --max-checkpoint-age 1ns (offline %v): %v, want %s", offline, err, eventstore.ProblemStaleCheckpoint)
		}
	}
	// Tamper as the owner, through the append-only trigger's escape hatch.
	err := eventstore.OwnerRewrite(t.Context(), e.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(t.Context(), `UPDATE events SET payload = '{"cluster":"orders","ordinal":0,"role":"replica"}' WHERE position = 5`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, offline := range []bool{false, true} {
		_, err := e.run(t, offline, "verify", "--public-key", prefix+".pub")
		var ec interface{ ExitCode() int }
		if !errors.As(err, &ec) || ec.ExitCode() != 2 || !strings.Contains(err.Error(), "position 5") {
			t.Fatalf("verify of a tampered log (offline %v): %v, want exit code 2 naming position 5", offline, err)
		}
		t.Log(err)
	}
}

// The signer runs apart (its own key, offline), copies checkpoints to the
// backup store, and verify --backup-store, through the API and offline,
// catches a database rewritten without them: the newest event and its
// checkpoint deleted.
func TestAuditSignerAndBackupStoreCopies(t *testing.T) {
	e := newAuditEnv(t)
	dir := t.TempDir()
	priv, pub, err := eventstore.EnsureKeyPair(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	bsDir := filepath.Join(dir, "backups")
	if _, err := e.run(t, false, "signer", "--signing-key", priv); err == nil || !strings.Contains(err.Error(), "--db") || !strings.Contains(err.Error(), auditcli.EnvServerDB) {
		t.Errorf("signer without a database: %v, want an error naming --db and %s", err, auditcli.EnvServerDB)
	}

	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := runAudit(ctx, "--db", e.url, "signer", "--signing-key", priv, "--interval", "20ms", "--backup-store", bsDir)
		done <- err
	}()
	waitCopies := func(n int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			cps, err := auditdb.CheckpointCopies(t.Context(), bsDir)
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
	s, err := eventstore.Open(t.Context(), e.pool, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := audit.OperationStarted{OperationID: "op-2", Cluster: "orders"}
	ev, err := audit.NewEvent(eventstore.StepEventID("wf", "act", 99), p, eventstore.Metadata{Actor: "alice", CorrelationID: "op-2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(t.Context(), audit.Stream(p), eventstore.Any(), ev); err != nil {
		t.Fatal(err)
	}
	waitCopies(2)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("signer: %v", err)
	}

	args := []string{"verify", "--public-key", pub, "--max-checkpoint-age", "1h", "--backup-store", bsDir}
	for _, offline := range []bool{false, true} {
		if out, err := e.run(t, offline, args...); err != nil || !strings.Contains(out, "backup store: 2 checkpoint copies, all in the database unchanged") {
			t.Fatalf("verify intact (offline %v): %v\n%s", offline, err, out)
		}
	}
	// Rewrite the database alone: drop the newest event and its checkpoint.
	// The database is consistent again; only the copies tell.
	err = eventstore.OwnerRewrite(t.Context(), e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), "DELETE FROM events WHERE position = 8"); err != nil {
			return err
		}
		_, err := tx.Exec(t.Context(), "DELETE FROM checkpoints WHERE seq = 2")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, offline := range []bool{false, true} {
		if out, err := e.run(t, offline, "verify", "--public-key", pub); err != nil {
			t.Fatalf("the rewrite is consistent within the database, verify without copies (offline %v): %v\n%s", offline, err, out)
		}
		_, err := e.run(t, offline, args...)
		var ec interface{ ExitCode() int }
		if !errors.As(err, &ec) || ec.ExitCode() != 2 || !strings.Contains(err.Error(), string(eventstore.ProblemCheckpointMissing)) {
			t.Fatalf("verify --backup-store after a rewrite (offline %v): %v, want exit 2 naming %s", offline, err, eventstore.ProblemCheckpointMissing)
		}
		t.Log(err)
	}
}

// `audit grant`, run as the owner, lets the writer's role append and keep the
// projections, and nothing more; the signer's role can sign. It needs the
// database: without --db it falls back to the server's DATABASE_URL.
func TestAuditGrant(t *testing.T) {
	ctx := t.Context()
	e := newAuditEnv(t)
	if _, err := e.run(t, false, "grant", "--writer", "w"); err == nil || !strings.Contains(err.Error(), "--db") {
		t.Errorf("grant without a database: %v, want an error asking for offline mode", err)
	}
	if _, err := e.run(t, true, "grant"); err == nil || !strings.Contains(err.Error(), "--writer") {
		t.Errorf("grant without roles: %v, want an error naming --writer", err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	writer, signer := "dayops_w_"+suffix, "dayops_s_"+suffix
	for _, r := range []string{writer, signer} {
		if _, err := e.pool.Exec(ctx, "CREATE ROLE "+pgx.Identifier{r}.Sanitize()+" LOGIN"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = e.pool.Exec(context.Background(), "DROP OWNED BY "+pgx.Identifier{r}.Sanitize())
			if _, err := e.pool.Exec(context.Background(), "DROP ROLE "+pgx.Identifier{r}.Sanitize()); err != nil {
				t.Errorf("drop role %s: %v", r, err)
			}
		})
	}
	// Online mode chosen (no --db), but the server's DATABASE_URL is set:
	// grant runs beside the server and uses it.
	t.Setenv("DAYOPS_API", e.api)
	t.Setenv(auditcli.EnvAuditDB, "")
	t.Setenv(auditcli.EnvServerDB, e.url)
	out, err := runAudit(ctx, "grant", "--writer", writer, "--signer", signer)
	if err != nil || !strings.Contains(out, writer+": writer") || !strings.Contains(out, signer+": signer") {
		t.Fatalf("grant: %v\n%s", err, out)
	}
	as := func(role string) string {
		u, err := url.Parse(e.url)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(role)
		return u.String()
	}
	if out, err := runAudit(ctx, "--db", as(writer), "project"); err != nil || !strings.Contains(out, "projections at position 7") {
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
	if _, err := runAudit(ctx, "keygen", "--out", prefix); err != nil {
		t.Fatal(err)
	}
	if out, err := runAudit(ctx, "--db", as(signer), "checkpoint", "--signing-key", prefix+".key"); err != nil {
		t.Fatalf("checkpoint as the signer: %v\n%s", err, out)
	}
	if out, err := runAudit(ctx, "--db", as(writer), "verify", "--public-key", prefix+".pub"); err != nil || !strings.Contains(out, "all signed") {
		t.Fatalf("verify as the writer: %v\n%s", err, out)
	}
}
