package access

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/testutil/pgtest"
)

// Successful credential reads, schedule changes and cancels are recorded
// with the actor; other successful requests are not (their operations are).
func TestRequestAuditRecordsSensitiveSuccesses(t *testing.T) {
	ctx := t.Context()
	store, err := eventstore.Open(ctx, pgtest.Pool(t), eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const opTok = "operator-token-0123456789"
	rec := Recorder{Store: store, Log: slog.Default(), Tokens: Tokens{opTok: {Subject: "olga", Role: RoleOperator}}}
	cases := []struct {
		method, target, pattern string
		status                  int
		wantType, wantStream    string
	}{
		{http.MethodGet, "/v1/clusters/orders/credentials?namespace=team-a", routeCredentials, 200, audit.TypeCredentialsRead, "cluster-team-a/orders"},
		{http.MethodPut, "/v1/clusters/orders/backup-schedule", routePutSchedule, 200, audit.TypeScheduleChanged, "cluster-default/orders"},
		{http.MethodDelete, "/v1/clusters/orders/backup-schedule", routeDeleteSchedule, 204, audit.TypeScheduleChanged, "cluster-default/orders"},
		{http.MethodPost, "/v1/operations/op-9/cancel", routeCancel, 202, audit.TypeCancelRequested, "operation-op-9"},
		{http.MethodPost, "/v1/clusters", "POST /v1/clusters", 202, "", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequestWithContext(ctx, c.method, c.target, nil)
		r.Header.Set("Authorization", "Bearer "+opTok)
		rec.record(r, c.pattern, &statusWriter{status: c.status}, json.RawMessage(`{"body":{"everySeconds":3600}}`))
	}
	evs, err := store.Query(ctx, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(cases)-1 {
		t.Fatalf("%d events, want %d", len(evs), len(cases)-1)
	}
	for i, e := range evs {
		c := cases[i]
		if e.Type != c.wantType || e.Stream != c.wantStream || e.Metadata.Actor != "olga" {
			t.Errorf("event %d: %s on %s by %s, want %s on %s by olga", i, e.Type, e.Stream, e.Metadata.Actor, c.wantType, c.wantStream)
		}
	}
	if strings.Contains(string(evs[0].Payload), "params") {
		t.Errorf("a credentials read records no parameters: %s", evs[0].Payload)
	}
}

// A credentials read served while the database dropped its connections (a
// restart or failover) is still recorded: the append goes again on a new
// connection.
func TestRequestAuditRidesOutTerminatedConnections(t *testing.T) {
	ctx := t.Context()
	pool := pgtest.Pool(t)
	store, err := eventstore.Open(ctx, pool, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const opTok = "operator-token-0123456789"
	rec := Recorder{Store: store, Log: slog.Default(), Tokens: Tokens{opTok: {Subject: "olga", Role: RoleOperator}}}
	db := pgtest.NewTerminator(t, pool.Config().ConnString())
	for i := range 3 {
		// The pool's connections are fresh from the last record: it hands
		// them out without a ping.
		if n, err := db.Terminate(ctx); err != nil || n == 0 {
			t.Fatalf("terminate: %d, %v", n, err)
		}
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/clusters/orders/credentials", nil)
		r.Header.Set("Authorization", "Bearer "+opTok)
		rec.record(r, routeCredentials, &statusWriter{status: 200}, nil)
		evs, err := store.Query(ctx, eventstore.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != i+1 || evs[i].Type != audit.TypeCredentialsRead {
			t.Fatalf("after read %d: %d events, want %d credential reads", i+1, len(evs), i+1)
		}
	}
}
