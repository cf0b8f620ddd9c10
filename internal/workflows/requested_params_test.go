package workflows

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/operation"
)

// OperationRequested records the request's parameters the API put in Meta
// (already redacted there).
func TestOperationRequestedCarriesParams(t *testing.T) {
	rec := &recorder{}
	env := scaleEnv(t, rec, func(_ context.Context, in redisops.MigrateInput) (redisops.MigrateResult, error) { return migrated(in) })
	params := json.RawMessage(`{"body":{"shards":4,"type":"scale-shards"},"query":{"namespace":"default"}}`)
	meta := operation.Meta{OperationID: "op-p", Type: operation.ScaleShards, Namespace: "default", Cluster: "orders", Actor: "alice", Params: params}
	env.ExecuteWorkflow(ScaleShards, ScaleShardsInput{Meta: meta, Shards: 4})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if rec.index("params-"+string(params)) < 0 {
		t.Errorf("OperationRequested without the request's parameters: %v", rec.calls)
	}
}
