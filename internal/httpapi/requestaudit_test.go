package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/testutil/pgtest"
)

// Refused requests (401, 403, 422) and refused credential reads are audit
// events naming the actor, with their parameters redacted. The requests here
// are refused before any handler runs, so no Temporal or Kubernetes is
// needed; the event store is the real PostgreSQL.
func TestRequestAuditRecordsRefusals(t *testing.T) {
	ctx := t.Context()
	store, err := eventstore.Open(ctx, pgtest.Pool(t), eventstore.Options{Upcasters: audit.Upcasters()})
	if err != nil {
		t.Fatal(err)
	}
	const opTok, audTok = "operator-token-0123456789", "auditor-token-0123456789"
	s := New(Deps{Store: store, Log: slog.Default(), Tokens: Tokens{
		opTok: {Subject: "olga", Role: RoleOperator}, audTok: {Subject: "arne", Role: RoleAuditor}}})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	do := func(method, path, token, body string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	bad := `{"name":"orders","namespace":"team-a","shards":"three","password":"hunter2",` +
		`"hooks":[{"url":"https://user:s3cret@hooks.example/x?token=abc"}]}`
	cases := []struct {
		method, path, token, body string
		status                    int
		actor                     string
	}{
		{http.MethodPost, "/v1/clusters", "", `{"name":"orders"}`, http.StatusUnauthorized, "anonymous"},
		{http.MethodPost, "/v1/clusters", "wrong-token-wrong-token", `{"name":"orders"}`, http.StatusUnauthorized, "anonymous (unknown token)"},
		{http.MethodPost, "/v1/clusters", audTok, `{"name":"orders"}`, http.StatusForbidden, "arne"},
		{http.MethodPost, "/v1/clusters", opTok, bad, http.StatusUnprocessableEntity, "olga"},
		{http.MethodGet, "/v1/clusters/orders/credentials?namespace=team-a", audTok, "", http.StatusForbidden, "arne"},
		{http.MethodPost, "/v1/operations/op-123/cancel", audTok, `{"reason":"stop"}`, http.StatusForbidden, "arne"},
	}
	for _, c := range cases {
		if got := do(c.method, c.path, c.token, c.body); got != c.status {
			t.Fatalf("%s %s: status %d, want %d", c.method, c.path, got, c.status)
		}
	}
	// Reads that are not refused and not sensitive are not recorded.
	do(http.MethodGet, "/v1/clusters", "", "")

	evs, err := store.Query(ctx, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(cases) {
		t.Fatalf("%d events, want %d", len(evs), len(cases))
	}
	for i, e := range evs {
		c := cases[i]
		p, err := audit.Decode(e.Type, e.SchemaVersion, e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		rr, ok := p.(*audit.RequestRefused)
		if !ok {
			t.Fatalf("event %d is %s, want RequestRefused", i, e.Type)
		}
		if e.Metadata.Actor != c.actor || rr.Status != c.status {
			t.Errorf("event %d: actor %q status %d, want %q %d", i, e.Metadata.Actor, rr.Status, c.actor, c.status)
		}
		t.Logf("%s %s %s: %s", e.Stream, e.Metadata.Actor, rr.Route, rr.Params)
	}
	if got := evs[4].Stream; got != "cluster-team-a/orders" {
		t.Errorf("refused credentials read on stream %s, want the cluster's", got)
	}
	if got := evs[5].Stream; got != "operation-op-123" {
		t.Errorf("refused cancel on stream %s, want the operation's", got)
	}
	var params struct {
		Body map[string]any `json:"body"`
	}
	if err := json.Unmarshal(evs[3].Payload, &struct {
		Params *struct {
			Body map[string]any `json:"body"`
		} `json:"params"`
	}{&params}); err != nil {
		t.Fatal(err)
	}
	raw := string(evs[3].Payload)
	for _, secret := range []string{"hunter2", "s3cret", "abc"} {
		if strings.Contains(raw, secret) {
			t.Errorf("recorded params hold the secret %q: %s", secret, raw)
		}
	}
	if params.Body["name"] != "orders" || params.Body["password"] != audit.Redacted {
		t.Errorf("params body %v: want the name kept and the password redacted", params.Body)
	}
}
