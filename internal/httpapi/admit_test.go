package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/admission"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
)

// oneCluster is a scripted live state: default/orders, three healthy
// shards, or a Kubernetes that does not answer.
type oneCluster struct{ down bool }

func (c oneCluster) Observe(_ context.Context, ns, name string, _ []int) (admission.Observation, error) {
	if c.down {
		return admission.Observation{}, errors.New("connection refused")
	}
	if name != "orders" {
		return admission.Observation{}, fmt.Errorf("%s/%s: %w", ns, name, admission.ErrNotFound)
	}
	sp := spec.Cluster{Name: "orders", Namespace: "default", Shards: 3, ReplicasPerShard: 1}
	sp.Default()
	st := planner.State{Spec: sp, Slots: map[int]topology.Ranges{}, Zones: []string{"a", "b"}, NextOrdinal: 6,
		Health: planner.Health{ClusterStateOK: true, AllConnected: true}}
	for s := range 3 {
		st.Instances = append(st.Instances,
			planner.Instance{Instance: topology.Instance{Ordinal: 2 * s, Shard: s, Role: topology.RolePrimary}, Ready: true, MaxMemory: 1 << 30},
			planner.Instance{Instance: topology.Instance{Ordinal: 2*s + 1, Shard: s, Role: topology.RoleReplica}, Ready: true, InSync: true, MaxMemory: 1 << 30})
	}
	for i, r := range topology.EvenSplit(3) {
		st.Slots[i] = topology.Ranges{r}
	}
	return admission.Observation{Exists: true, State: st}, nil
}

func (c oneCluster) Objects(ctx context.Context, ns, name string) (admission.Observation, error) {
	o, err := c.Observe(ctx, ns, name, nil)
	if errors.Is(err, admission.ErrNotFound) {
		return admission.Observation{}, nil
	}
	return o, err
}

func (c oneCluster) Zones(context.Context, string) ([]string, error) { return []string{"a", "b"}, nil }
func (oneCluster) SpecHash(s spec.Cluster) string                    { return s.Image }
func (oneCluster) List(context.Context, string) ([]admission.Observation, error) {
	return nil, nil
}
func (oneCluster) Password(context.Context, spec.Cluster) (string, string, error) { return "", "", nil }

// TestRefusalStatus checks that admission refusals keep their status codes
// (dry runs: no Temporal needed).
func TestRefusalStatus(t *testing.T) {
	const token = "0123456789abcdef-operator"
	tokens, err := httpapi.ParseTokens(token + "=alice:operator")
	if err != nil {
		t.Fatal(err)
	}
	newAPI := func(c oneCluster) *httptest.Server {
		s := httpapi.New(httpapi.Deps{Clusters: c, Tokens: tokens, Log: slog.New(slog.DiscardHandler)})
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		return srv
	}
	up, down := newAPI(oneCluster{}), newAPI(oneCluster{down: true})
	cases := []struct {
		name   string
		srv    *httptest.Server
		method string
		path   string
		body   string
		want   int
	}{
		{"scale dry run", up, "POST", "/v1/clusters/orders/operations?dryRun=true", `{"type":"scale-shards","shards":4,"allowSharedZones":true}`, 200},
		{"missing shards", up, "POST", "/v1/clusters/orders/operations?dryRun=true", `{"type":"scale-shards"}`, 422},
		{"same shard count", up, "POST", "/v1/clusters/orders/operations?dryRun=true", `{"type":"scale-shards","shards":3}`, 422},
		{"zones too few", up, "POST", "/v1/clusters/orders/operations?dryRun=true", `{"type":"scale-replicas","replicasPerShard":2}`, 409},
		{"no such cluster", up, "POST", "/v1/clusters/nope/operations?dryRun=true", `{"type":"scale-shards","shards":4}`, 404},
		{"bad name", up, "POST", "/v1/clusters/Bad_Name/operations?dryRun=true", `{"type":"scale-shards","shards":4}`, 422},
		{"kubernetes down", down, "POST", "/v1/clusters/orders/operations?dryRun=true", `{"type":"scale-shards","shards":4}`, 503},
		{"create existing", up, "POST", "/v1/clusters?dryRun=true", `{"name":"orders","namespace":"default","shards":3,"replicasPerShard":0}`, 409},
		{"create dry run", up, "POST", "/v1/clusters?dryRun=true", `{"name":"fresh","namespace":"default","shards":3,"replicasPerShard":1}`, 200},
		{"create invalid", up, "POST", "/v1/clusters?dryRun=true", `{"name":"fresh","namespace":"default","shards":0}`, 422},
		{"delete dry run", up, "DELETE", "/v1/clusters/orders?dryRun=true", ``, 200},
		{"delete missing", up, "DELETE", "/v1/clusters/nope?dryRun=true", ``, 404},
		{"backup without store", up, "POST", "/v1/clusters/orders/backups", `{}`, 503},
		{"recover dry run", up, "POST", "/v1/clusters/orders/operations?dryRun=true", `{"type":"recover"}`, 200},
		{"recover missing", up, "POST", "/v1/clusters/nope/operations?dryRun=true", `{"type":"recover"}`, 404},
		{"recover kubernetes down", down, "POST", "/v1/clusters/orders/operations?dryRun=true", `{"type":"recover"}`, 503},
		{"switchover dry run", up, "POST", "/v1/clusters/orders/operations?dryRun=true", `{"type":"switchover","shard":0}`, 200},
		{"switchover without shard", up, "POST", "/v1/clusters/orders/operations?dryRun=true", `{"type":"switchover"}`, 422},
		{"switchover missing", up, "POST", "/v1/clusters/nope/operations?dryRun=true", `{"type":"switchover","shard":0}`, 404},
		{"switchover to a primary", up, "POST", "/v1/clusters/orders/operations?dryRun=true", `{"type":"switchover","shard":0,"to":0}`, 409},
		{"restore without store", up, "POST", "/v1/restores?dryRun=true", `{"backup":"0190f1c2-7a1b-7c3d-8e4f-123456789abc","name":"copy"}`, 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequestWithContext(t.Context(), tc.method, tc.srv.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d: %s", res.StatusCode, tc.want, b)
			}
		})
	}
}
