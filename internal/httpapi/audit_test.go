package httpapi_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestAuditEndpoints serves a seeded audit log in a fresh PostgreSQL database
// through the real API (it needs no Temporal or Kubernetes).
func TestAuditEndpoints(t *testing.T) {
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := eventstore.Open(ctx, pool, eventstore.Options{Upcasters: audit.Upcasters()})
	if err != nil {
		t.Fatal(err)
	}
	const key = "default/orders"
	for i, p := range []audit.Payload{
		audit.OperationRequested{OperationID: "op-1", Cluster: key, Kind: "create"},
		audit.ClusterCreated{Cluster: key, RedisVersion: "7.0.15", Image: "redis:7.0.15", Shards: 1},
		audit.ShardAdded{Cluster: key, Shard: 0},
		audit.InstanceCreated{Cluster: key, Shard: 0, Ordinal: 0, Pod: "orders-0", Zone: "a", Role: audit.RolePrimary},
		audit.SlotsAssigned{Cluster: key, Shard: 0, Slots: []audit.SlotRange{{Start: 0, End: 16383}}},
		audit.OperationCompleted{OperationID: "op-1", Cluster: key},
	} {
		e, err := audit.NewEvent(eventstore.StepEventID("wf", "act", i), p, eventstore.Metadata{Actor: "alice", CorrelationID: "op-1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, audit.Stream(p), eventstore.Any(), e); err != nil {
			t.Fatal(err)
		}
	}
	api := httpapi.New(httpapi.Deps{Store: s, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Tokens: httpapi.Tokens{"auditor-token-0123456789": {Subject: "auditor", Role: httpapi.RoleAuditor}}})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	c := &cli.Client{Base: srv.URL, Token: "auditor-token-0123456789", HTTP: srv.Client()}
	get := func(path string, q url.Values, out any) error { return c.Do(ctx, http.MethodGet, path, q, nil, out) }

	t.Run("token required", func(t *testing.T) {
		anon := *c
		anon.Token = ""
		apiErr(t, anon.Do(ctx, http.MethodGet, "/v1/audit/events", nil, nil, nil), http.StatusUnauthorized)
	})
	t.Run("events paged forward and back", func(t *testing.T) {
		var all []int64
		q := url.Values{"cluster": {key}, "limit": {"4"}}
		for {
			var p apiv1.EventPage
			if err := get("/v1/audit/events", q, &p); err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Events {
				all = append(all, e.Position)
				if e.Actor != "alice" || e.Version == 0 || e.Cluster != key || e.Hash != "" {
					t.Errorf("event %+v: want actor, version, cluster and no hash", e)
				}
			}
			if p.Next == 0 {
				break
			}
			q.Set("after", strconv.FormatInt(p.Next, 10))
		}
		if len(all) != 6 || all[0] != 1 || all[5] != 6 {
			t.Errorf("forward: %v", all)
		}
		var p apiv1.EventPage
		if err := get("/v1/audit/events", url.Values{"reverse": {"true"}, "limit": {"2"}, "before": {"6"}, "hashes": {"true"}}, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Events) != 2 || p.Events[0].Position != 5 || p.Events[1].Position != 4 || p.Next != 4 || len(p.Events[0].Hash) != 64 {
			t.Errorf("reverse page: %+v", p)
		}
		if err := get("/v1/audit/events", url.Values{"type": {"ShardAdded"}, "operation": {"op-1"}}, &p); err != nil || len(p.Events) != 1 || p.Events[0].Type != "ShardAdded" {
			t.Errorf("by type and operation: %v %+v", err, p)
		}
		e := apiErr(t, get("/v1/audit/events", url.Values{"since": {"yesterday"}}, nil), http.StatusUnprocessableEntity)
		if l := locations(e); len(l) != 1 || l[0] != "query.since" {
			t.Errorf("bad since: %v", e)
		}
	})
	t.Run("state as of", func(t *testing.T) {
		var st apiv1.AuditState
		if err := get("/v1/audit/state", url.Values{"cluster": {key}, "asOf": {"3"}}, &st); err != nil {
			t.Fatal(err)
		}
		if st.AsOf != "position 3" || st.Cluster.SlotCount() != 0 || len(st.Cluster.Shards) != 1 || len(st.Operations) != 1 {
			t.Errorf("as of 3: %+v", st)
		}
		if err := get("/v1/clusters/orders/state", nil, &st); err != nil {
			t.Fatal(err)
		}
		if st.AsOf != "now" || st.Cluster.SlotCount() != 16384 || st.Cluster.Instances[0].Pod != "orders-0" || st.Operations[0].Status != apiv1.AuditStatusCompleted {
			t.Errorf("now: %+v", st)
		}
		apiErr(t, get("/v1/clusters/nope/state", nil, nil), http.StatusNotFound)
		apiErr(t, get("/v1/audit/state", url.Values{"cluster": {key}, "asOf": {"soon"}}, nil), http.StatusUnprocessableEntity)
	})
	t.Run("verify", func(t *testing.T) {
		verify := func(req apiv1.AuditVerifyRequest) apiv1.AuditVerifyReport {
			t.Helper()
			var rep apiv1.AuditVerifyReport
			if err := c.Do(ctx, http.MethodPost, "/v1/audit/verify", nil, req, &rep); err != nil {
				t.Fatal(err)
			}
			return rep
		}
		// Nothing is signed yet: that fails unless allowed.
		if rep := verify(apiv1.AuditVerifyRequest{}); rep.Intact || rep.Problem != string(eventstore.ProblemNoCheckpoint) {
			t.Errorf("unsigned log: %+v, want %s", rep, eventstore.ProblemNoCheckpoint)
		}
		if rep := verify(apiv1.AuditVerifyRequest{AllowNoCheckpoint: true}); !rep.Intact || rep.Events != 6 || rep.HeadPosition != 6 || len(rep.HeadHash) != 64 || rep.NewestCheckpoint != 0 {
			t.Errorf("intact unsigned log, allowed: %+v", rep)
		}
		apiErr(t, c.Do(ctx, http.MethodPost, "/v1/audit/verify", nil, apiv1.AuditVerifyRequest{PublicKeys: []string{"not a key"}}, nil), http.StatusUnprocessableEntity)
		apiErr(t, c.Do(ctx, http.MethodPost, "/v1/audit/verify", nil, apiv1.AuditVerifyRequest{MaxCheckpointAge: "soon"}, nil), http.StatusUnprocessableEntity)

		// Sign the head; the auditor sends the checkpoint's copy as read
		// from outside the database.
		privPEM, pubPEM, err := eventstore.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		priv, err := eventstore.ParsePrivateKey(privPEM)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.WithSigner(eventstore.NewSigner(priv)).Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		cps, err := s.Checkpoints(ctx)
		if err != nil || len(cps) != 1 {
			t.Fatalf("checkpoints: %v %v", cps, err)
		}
		cp := apiv1.AuditCheckpointCopy{Seq: cps[0].Seq, Position: cps[0].Position, Hash: cps[0].Hash, SignedAt: cps[0].SignedAt,
			KeyID: cps[0].KeyID, Signature: cps[0].Signature, Format: cps[0].Format}
		req := apiv1.AuditVerifyRequest{PublicKeys: []string{string(pubPEM)}, MaxCheckpointAge: "1h", CheckpointCopies: []apiv1.AuditCheckpointCopy{cp}}
		if rep := verify(req); !rep.Intact || rep.SignaturesChecked != 1 || rep.NewestCheckpoint != 1 || rep.NewestCheckpointSignedAt.IsZero() || rep.CheckpointCopiesChecked != 1 {
			t.Errorf("signed log with its copy: %+v", rep)
		}
		// A copy the database does not hold (deleted with the events it
		// signed) is caught.
		g := eventstore.NewSigner(priv).Sign(2, 7, cps[0].Hash, time.Now())
		req.CheckpointCopies = append(req.CheckpointCopies, apiv1.AuditCheckpointCopy{Seq: g.Seq, Position: g.Position, Hash: g.Hash,
			SignedAt: g.SignedAt, KeyID: g.KeyID, Signature: g.Signature, Format: g.Format})
		if rep := verify(req); rep.Intact || rep.Problem != string(eventstore.ProblemCheckpointMissing) {
			t.Errorf("copy missing from the database: %+v, want %s", rep, eventstore.ProblemCheckpointMissing)
		}
		if rep := verify(apiv1.AuditVerifyRequest{MaxCheckpointAge: "1ns"}); rep.Intact || rep.Problem != string(eventstore.ProblemStaleCheckpoint) {
			t.Errorf("max age 1ns: %+v, want %s", rep, eventstore.ProblemStaleCheckpoint)
		}

		// Tamper as the owner, through the append-only trigger's escape hatch.
		if err := eventstore.OwnerRewrite(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE events SET actor = 'mallory' WHERE position = 4`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if rep := verify(apiv1.AuditVerifyRequest{}); rep.Intact || rep.Position != 4 || rep.Problem != "hash_mismatch" || rep.EventID == "" || rep.Error == "" {
			t.Errorf("tampered log: %+v", rep)
		}
	})
}
