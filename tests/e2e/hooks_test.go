package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHooks: an HTTP pre-create hook receives the step context; an exec
// post-create hook runs in every shard's primary pod through pods/exec; a
// failing blocking pre-create hook stops the operation before anything exists.
func TestHooks(t *testing.T) {
	env := devtest.Get(t)
	d := dayopstest.Start(t, env, dayopstest.Options{})
	h := &harness{t: t, d: d, ns: env.Namespace}

	var mu sync.Mutex
	var calls []hooks.StepContext
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var sc hooks.StepContext
		_ = json.Unmarshal(b, &sc)
		mu.Lock()
		calls = append(calls, sc)
		mu.Unlock()
		if r.URL.Path == "/deny" {
			http.Error(w, "change freeze", http.StatusForbidden)
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	acc := h.start("/v1/clusters", nil, map[string]any{
		"name": "hooked", "namespace": h.ns, "shards": 3, "replicasPerShard": 0, "persistence": map[string]any{"mode": "none"},
		"hooks": []map[string]any{
			{"name": "announce", "point": "pre-create", "scope": "cluster", "http": map[string]any{"url": base + "/ok"}},
			{"name": "ping", "point": "post-create", "scope": "shard", "timeout": "20s",
				"exec": map[string]any{"command": []string{"sh", "-c", `redis-cli -h "$POD_IP" --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG`}}},
		},
	})
	h.wait(acc.OperationID, 5*time.Minute, nil)
	mu.Lock()
	if len(calls) != 1 || calls[0].Point != "pre-create" || calls[0].Cluster != "hooked" || calls[0].Actor != "test-operator" {
		t.Errorf("HTTP hook calls = %+v", calls)
	}
	mu.Unlock()
	ran := hookEvents(t, d, operation.ClusterKey(h.ns, "hooked"))
	if ran["announce/pre-create/succeeded"] != 1 || ran["ping/post-create/succeeded"] != 3 {
		t.Errorf("HookRan events = %v, want announce once and ping once per shard", ran)
	}

	// A failing blocking pre-hook: the operation fails and creates nothing.
	acc = h.start("/v1/clusters", nil, map[string]any{
		"name": "frozen", "namespace": h.ns, "shards": 3, "replicasPerShard": 0,
		"hooks": []map[string]any{{"name": "freeze", "point": "pre-create", "scope": "cluster", "retries": 0,
			"http": map[string]any{"url": base + "/deny"}}},
	})
	var op httpapi.Operation
	deadline := time.Now().Add(2 * time.Minute)
	for op.Status == "" || op.Status == "Running" {
		if time.Now().After(deadline) {
			t.Fatalf("the frozen create never ended: %+v", op)
		}
		time.Sleep(300 * time.Millisecond)
		_ = d.Auditor.Do(t.Context(), http.MethodGet, "/v1/operations/"+acc.OperationID, nil, nil, &op)
	}
	if op.Status != "Failed" || op.Progress.Outcome != "failed" {
		t.Fatalf("the frozen create ended %s/%s, want Failed", op.Status, op.Progress.Outcome)
	}
	if _, err := env.Clientset.CoreV1().ConfigMaps(h.ns).Get(t.Context(), "frozen-config", metav1.GetOptions{}); err == nil {
		t.Error("a failing pre-create hook must stop the operation before it creates anything")
	}
	if ran := hookEvents(t, d, operation.ClusterKey(h.ns, "frozen")); ran["freeze/pre-create/failed"] != 1 {
		t.Errorf("HookRan events = %v, want the failed freeze recorded", ran)
	}
	var c httpapi.ClusterDetail
	err = d.Auditor.Do(t.Context(), http.MethodGet, "/v1/clusters/frozen", url.Values{"namespace": {h.ns}}, nil, &c)
	if err == nil {
		t.Error("the frozen cluster must not exist")
	}
}

func hookEvents(t *testing.T, d *dayopstest.Dayops, cluster string) map[string]int {
	out := map[string]int{}
	for _, e := range d.Events(t, eventstore.Filter{Cluster: cluster, Types: []string{audit.TypeHookRan}}) {
		p, err := audit.Decode(e.Type, e.SchemaVersion, e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		hr := p.(*audit.HookRan)
		out[hr.Hook+"/"+hr.Point+"/"+hr.Outcome]++
	}
	return out
}
