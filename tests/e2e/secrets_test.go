package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/proto"
)

// checkNoSecret fails t when the cluster's password appears anywhere an
// operator, an auditor or a log reader can see it: any audit event of the
// test's database (payload and metadata), any Temporal history event of the
// test's task queue (the raw protobuf, so payload data is searched as it is
// stored, not base64-encoded), or the given log files (the API's and the
// workers', at level info).
func checkNoSecret(t *testing.T, d *dayopstest.Dayops, password string, logs ...string) {
	t.Helper()
	if len(password) < 8 {
		t.Fatalf("password %q is too short to grep for", password)
	}
	pw := []byte(password)
	events := d.Events(t, eventstore.Filter{})
	for _, e := range events {
		meta, err := json.Marshal(e.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(e.Payload, pw) || bytes.Contains(meta, pw) {
			t.Errorf("audit event %d (%s) holds the cluster's password", e.Position, e.Type)
		}
	}
	histories, historyEvents := 0, 0
	ctx := t.Context()
	var next []byte
	for {
		resp, err := d.Deps.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: d.Config.TemporalNamespace, Query: fmt.Sprintf("TaskQueue = %q", d.Config.TaskQueue), NextPageToken: next,
		})
		if err != nil {
			t.Fatalf("list workflows: %v", err)
		}
		for _, ex := range resp.Executions {
			histories++
			historyEvents += grepHistory(ctx, t, d, ex.Execution.WorkflowId, ex.Execution.RunId, pw)
		}
		if next = resp.NextPageToken; len(next) == 0 {
			break
		}
	}
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Errorf("read log: %v", err)
			continue
		}
		if bytes.Contains(b, pw) {
			t.Errorf("log %s holds the cluster's password", l)
		}
	}
	if histories == 0 || len(events) == 0 {
		t.Fatalf("nothing to search: %d audit events, %d workflow histories", len(events), histories)
	}
	t.Logf("the password is in none of %d audit events, %d workflow histories (%d events), %d log files",
		len(events), histories, historyEvents, len(logs))
}

func grepHistory(ctx context.Context, t *testing.T, d *dayopstest.Dayops, id, run string, pw []byte) int {
	t.Helper()
	it := d.Deps.Temporal.GetWorkflowHistory(ctx, id, run, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Errorf("history of %s: %v", id, err)
			return n
		}
		n++
		b, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, pw) {
			t.Errorf("workflow %s event %d (%s) holds the cluster's password", id, ev.EventId, ev.EventType)
		}
	}
	return n
}
