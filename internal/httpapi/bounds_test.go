package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/httpapi"
)

const badInputToken = "bad-input-5f0c9e27a1d84b36e2c7"

// TestBadInput sends requests admission must refuse by their shape alone.
// The API has no Temporal client, Kubernetes client or event store: a
// request that got past admission would panic on the nil client instead of
// answering, so every 4xx here proves nothing was observed, started or
// written. Each case must name its field.
func TestBadInput(t *testing.T) {
	tokens, err := httpapi.ParseTokens(badInputToken + "=bad-input:operator")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Deps{Tokens: tokens, Log: slog.New(slog.DiscardHandler)}).Handler())
	defer srv.Close()
	long := strings.Repeat("x", 1025)
	cluster := func(extra map[string]any) map[string]any {
		b := map[string]any{"name": "orders", "namespace": "team-a", "shards": 3, "replicasPerShard": 1}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	const backupID = "0190f1c2-7a1b-7c3d-8e4f-123456789abc"
	tests := map[string]struct {
		method, path string
		query        url.Values
		body         any
		want         string // the location the error must name
	}{
		"create: 1025-byte reason":      {"POST", "/v1/clusters", nil, cluster(map[string]any{"reason": long}), "body.reason"},
		"create: reason with ESC":       {"POST", "/v1/clusters", nil, cluster(map[string]any{"reason": "ok\x1b[2J"}), "body.reason"},
		"create: quoted config key":     {"POST", "/v1/clusters", nil, cluster(map[string]any{"config": map[string]string{`"dir"`: "/tmp"}}), `body.config["dir"]`},
		"create: key with CR":           {"POST", "/v1/clusters", nil, cluster(map[string]any{"config": map[string]string{"dbfilename\r": "x"}}), "body.config[dbfilename\r]"},
		"create: user directive":        {"POST", "/v1/clusters", nil, cluster(map[string]any{"config": map[string]string{"user": "default on nopass ~* +@all"}}), "body.config[user]"},
		"create: rename-command":        {"POST", "/v1/clusters", nil, cluster(map[string]any{"config": map[string]string{"rename-command": "CONFIG x"}}), "body.config[rename-command]"},
		"create: loadmodule":            {"POST", "/v1/clusters", nil, cluster(map[string]any{"config": map[string]string{"loadmodule": "/x.so"}}), "body.config[loadmodule]"},
		"create: include":               {"POST", "/v1/clusters", nil, cluster(map[string]any{"config": map[string]string{"include": "/x.conf"}}), "body.config[include]"},
		"create: bogus policy":          {"POST", "/v1/clusters", nil, cluster(map[string]any{"config": map[string]string{"maxmemory-policy": "bogus"}}), "body.config[maxmemory-policy]"},
		"create: activedefrag yes":      {"POST", "/v1/clusters", nil, cluster(map[string]any{"config": map[string]string{"activedefrag": "yes"}}), "body.config[activedefrag]"},
		"create: unknown directive":     {"POST", "/v1/clusters", nil, cluster(map[string]any{"config": map[string]string{"no-such-thing": "1"}}), "body.config[no-such-thing]"},
		"create: image not a reference": {"POST", "/v1/clusters", nil, cluster(map[string]any{"image": "Redis:7.0"}), "body.image"},
		"create: hook timeout 1h": {"POST", "/v1/clusters", nil, cluster(map[string]any{"hooks": []map[string]any{{"name": "h", "point": "pre-create",
			"http": map[string]any{"url": "http://hooks.example.com/"}, "timeout": "1h"}}}), "body.hooks[0].timeout"},
		"create: hook retries 11": {"POST", "/v1/clusters", nil, cluster(map[string]any{"hooks": []map[string]any{{"name": "h", "point": "pre-create",
			"http": map[string]any{"url": "http://hooks.example.com/"}, "retries": 11}}}), "body.hooks[0].retries"},
		"create: bad namespace": {"POST", "/v1/clusters", nil, cluster(map[string]any{"namespace": "Team_A"}), "body.namespace"},
		"operation: malformed namespace query": {"POST", "/v1/clusters/orders/operations", url.Values{"namespace": {"Bad_NS"}},
			map[string]any{"type": "scale-shards", "shards": 4}, "query.namespace"},
		"operation: 1025-byte reason": {"POST", "/v1/clusters/orders/operations", nil,
			map[string]any{"type": "scale-shards", "shards": 4, "reason": long}, "body.reason"},
		"upgrade: image not a reference": {"POST", "/v1/clusters/orders/operations", nil,
			map[string]any{"type": "upgrade", "image": "redis:7.0:bad"}, "body.image"},
		"upgrade: dir in config": {"POST", "/v1/clusters/orders/operations", nil,
			map[string]any{"type": "upgrade", "config": map[string]string{"dir": "/tmp"}}, "body.config[dir]"},
		"upgrade: gate interval 1ms": {"POST", "/v1/clusters/orders/operations", nil,
			map[string]any{"type": "upgrade", "image": "redis:7.2", "bake": "24h", "gate": map[string]any{"interval": "1ms"}}, "body.gate.interval"},
		"upgrade: bake over 24h": {"POST", "/v1/clusters/orders/operations", nil,
			map[string]any{"type": "upgrade", "image": "redis:7.2", "bake": "25h"}, "body.bake"},
		"delete: 1025-byte reason query":     {"DELETE", "/v1/clusters/orders", url.Values{"reason": {long}}, nil, "query.reason"},
		"delete: malformed namespace":        {"DELETE", "/v1/clusters/orders", url.Values{"namespace": {"../x"}}, nil, "query.namespace"},
		"get cluster: malformed namespace":   {"GET", "/v1/clusters/orders", url.Values{"namespace": {"a b"}}, nil, "query.namespace"},
		"list clusters: malformed namespace": {"GET", "/v1/clusters", url.Values{"namespace": {"A"}}, nil, "query.namespace"},
		"events: malformed namespace":        {"GET", "/v1/clusters/orders/events", url.Values{"namespace": {"A"}}, nil, "query.namespace"},
		"backup: 1025-byte reason":           {"POST", "/v1/clusters/orders/backups", nil, map[string]any{"reason": long}, "body.reason"},
		"get backup: malformed ID":           {"GET", "/v1/backups/not-an-id", nil, nil, "path.id"},
		"delete backup: malformed ID":        {"DELETE", "/v1/backups/..%2Fetc", nil, nil, "path.id"},
		"delete backup: 1025-byte reason":    {"DELETE", "/v1/backups/" + backupID, url.Values{"reason": {long}}, nil, "query.reason"},
		"restore: malformed backup ID":       {"POST", "/v1/restores", nil, map[string]any{"backup": "x/../y", "name": "copy"}, "body.backup"},
		"restore: 1025-byte reason":          {"POST", "/v1/restores", nil, map[string]any{"backup": backupID, "name": "copy", "reason": long}, "body.reason"},
		"schedule: bad cron":                 {"PUT", "/v1/clusters/orders/backup-schedule", nil, map[string]any{"cron": "61 * * * *"}, "body.cron"},
		"schedule: 1025-byte reason":         {"PUT", "/v1/clusters/orders/backup-schedule", nil, map[string]any{"every": "6h", "reason": long}, "body.reason"},
		"schedule: every 10 years":           {"PUT", "/v1/clusters/orders/backup-schedule", nil, map[string]any{"every": "87600h"}, "body.every"},
		"approve: 1025-byte reason":          {"POST", "/v1/operations/" + backupID + "/approve", nil, map[string]any{"reason": long}, "body.reason"},
		"pause: 1025-byte reason":            {"POST", "/v1/operations/" + backupID + "/pause", nil, map[string]any{"reason": long}, "body.reason"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var body io.Reader
			if tc.body != nil {
				b, _ := json.Marshal(tc.body)
				body = bytes.NewReader(b)
			}
			u := srv.URL + tc.path
			if tc.query != nil {
				u += "?" + tc.query.Encode()
			}
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, u, body)
			req.Header.Set("Authorization", "Bearer "+badInputToken)
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode < 400 || resp.StatusCode > 499 {
				t.Fatalf("status %d, want 4xx: %s", resp.StatusCode, raw)
			}
			var problem struct {
				Errors []struct {
					Location string `json:"location"`
					Message  string `json:"message"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(raw, &problem); err != nil {
				t.Fatalf("not a problem document: %s", raw)
			}
			for _, e := range problem.Errors {
				if e.Location == tc.want && e.Message != "" {
					return
				}
			}
			t.Fatalf("status %d does not name %q: %s", resp.StatusCode, tc.want, raw)
		})
	}
}
