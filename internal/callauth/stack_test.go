package callauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/callauth"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func TestMain(m *testing.M) { devtest.Main(m) }

type decision struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

// steered waits for an "approve" update and collects "pause" signals until
// "done"; the query "seen" lists the actors it accepted.
func steered(ctx workflow.Context) ([]string, error) {
	var seen []string
	if err := workflow.SetQueryHandler(ctx, "seen", func() ([]string, error) { return seen, nil }); err != nil {
		return nil, err
	}
	if err := workflow.SetUpdateHandler(ctx, "approve", func(ctx workflow.Context, d decision) (string, error) {
		seen = append(seen, "approve:"+d.Actor)
		return "approved by " + d.Actor, nil
	}); err != nil {
		return nil, err
	}
	pause, done := workflow.GetSignalChannel(ctx, "pause"), workflow.GetSignalChannel(ctx, "done")
	for finished := false; !finished; {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(pause, func(c workflow.ReceiveChannel, _ bool) {
			var d decision
			c.Receive(ctx, &d)
			seen = append(seen, "pause:"+d.Actor)
		})
		sel.AddReceive(done, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); finished = true })
		sel.Select(ctx)
	}
	return seen, nil
}

// TestOnlyTheAPISteers runs a worker with the Checker on the stack's real
// Temporal server: a client with the API's Signer may update and signal, a
// client without it (anyone else on the frontend) is refused (update) or
// ignored (signal), and so is a client signing with another key.
func TestOnlyTheAPISteers(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	keys, err := callauth.ParseKeys(strings.Repeat("a", 40))
	if err != nil {
		t.Fatal(err)
	}
	otherKeys, _ := callauth.ParseKeys(strings.Repeat("b", 40))
	dial := func(ics ...interceptor.ClientInterceptor) client.Client {
		c, err := client.DialContext(ctx, client.Options{HostPort: env.TemporalAddress, Interceptors: ics})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	api := dial(&callauth.Signer{Keys: keys})
	stranger := dial()
	forger := dial(&callauth.Signer{Keys: otherKeys})

	queue := "callauth-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000")
	w := worker.New(api, queue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{&callauth.Checker{Keys: keys}}})
	w.RegisterWorkflowWithOptions(steered, workflow.RegisterOptions{Name: "steered"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	run, err := api.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue, WorkflowExecutionTimeout: 2 * time.Minute}, "steered")
	if err != nil {
		t.Fatal(err)
	}
	update := func(c client.Client, actor string) (string, error) {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), RunID: run.GetRunID(),
			UpdateName: "approve", Args: []any{decision{Actor: actor, Reason: "r"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			return "", err
		}
		var out string
		err = h.Get(ctx, &out)
		return out, err
	}
	for name, c := range map[string]client.Client{"stranger": stranger, "forger": forger} {
		if _, err := update(c, name); err == nil || !strings.Contains(err.Error(), "dayops API's signature") {
			t.Errorf("an update from a %s: err = %v, want a refusal naming the signature", name, err)
		}
		if err := c.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), "pause", decision{Actor: name}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := update(api, "alice"); err != nil || out != "approved by alice" {
		t.Fatalf("the API's update: %q, %v", out, err)
	}
	if err := api.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), "pause", decision{Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	// "done" from a stranger is dropped too: only the API's ends the run.
	if err := stranger.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), "done", nil); err != nil {
		t.Fatal(err)
	}
	// A query is answered after every event before it has been handled, so
	// the stranger's "done" has been seen (and dropped) when it returns.
	v, err := api.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), "seen")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	if err := v.Get(&seen); err != nil {
		t.Fatal(err)
	}
	desc, err := api.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("the run is %s after a stranger's done signal (seen %v)", st, seen)
	}
	if err := api.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), "done", nil); err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, &seen); err != nil {
		t.Fatal(err)
	}
	if want := "approve:alice,pause:bob"; strings.Join(seen, ",") != want {
		t.Fatalf("accepted %v, want %s", seen, want)
	}
}
