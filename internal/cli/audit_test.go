package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/cli/auditdb"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/testutil/pgtest"
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
	t.Setenv(cli.EnvAuditDB, "")
	if offline {
		args = append([]string{"--db", e.url}, args...)
	}
	cmd := cli.AuditCmd(auditdb.Offline())
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
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
			out, err := run("verify")
			if err != nil || !strings.Contains(out, "chain intact: 7 events") || !strings.Contains(out, "NOT checked") {
				t.Fatalf("verify: %v\n%s", err, out)
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
			if mode.offline && !errors.Is(err, audit.ErrClusterNotFound) || !mode.offline && (!errors.As(err, &apiErr) || apiErr.Status != 404) {
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
		if out, err := e.run(t, offline, "verify", "--public-key", prefix+".pub"); err != nil || !strings.Contains(out, "all signed") {
			t.Fatalf("verify signed (offline %v): %v\n%s", offline, err, out)
		}
	}
	if _, err := e.pool.Exec(context.Background(), `UPDATE events SET payload = '{"cluster":"orders","ordinal":0,"role":"replica"}' WHERE position = 5`); err != nil {
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
