package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
)

// TestStartOutlivesTheRequest: an admitted operation whose request goes
// away (the client disconnects, a proxy closes its side) while its
// workflow is being started is started, not cut off behind a 503 that
// would be wrong whenever the server had already taken the start. On the
// stack's real Temporal; the workflow (of a type no worker serves) is
// terminated at the end.
func TestStartOutlivesTheRequest(t *testing.T) {
	env := devtest.Get(t)
	c := env.TemporalClient(t)
	s := New(Deps{Temporal: c, TaskQueue: fmt.Sprintf("start-outlives-%d", time.Now().UnixNano()), Log: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the request is gone before the start
	wid := fmt.Sprintf("dayops-test/start-outlives-%d", time.Now().UnixNano())
	m := operation.Meta{OperationID: "op-start", Type: operation.ScaleShards, Namespace: "default", Cluster: "gone", Actor: "tester"}
	acc, err := s.startWithID(ctx, m, planner.Plan{Summary: "scale"}, wid, "NoWorkerServesThis", nil)
	if err != nil {
		t.Fatalf("start with the request gone: %v", err)
	}
	defer func() { _ = c.TerminateWorkflow(context.Background(), wid, acc.RunID, "test done") }()
	desc, err := c.DescribeWorkflowExecution(t.Context(), wid, acc.RunID)
	if err != nil {
		t.Fatalf("the started workflow: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus().String(); st != "Running" {
		t.Errorf("workflow %s is %s, want Running", wid, st)
	}
}
