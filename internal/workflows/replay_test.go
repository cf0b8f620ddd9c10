package workflows

import (
	"path/filepath"
	"testing"

	"github.com/dayops/dayops/internal/operation"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays one recorded history of every workflow
// type (recorded from the end-to-end test with DAYOPS_RECORD_HISTORIES=1): a
// change that breaks determinism for running workflows fails here, and must
// go behind workflow.GetVersion.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"create.json": false, "scale-shards.json": false, "scale-replicas.json": false, "delete.json": false, "upgrade.json": false,
		// An upgrade whose bake ran in the UpgradeBake child, and that child
		// (TestUpgrade's first upgrade, recorded with
		// DAYOPS_RECORD_HISTORIES=1 and renamed, then `temporal workflow show
		// --workflow-id <upgrade's ID>/bake-1 --output json`); upgrade*.json
		// bake inline (recorded before the child existed).
		"upgrade-bake-child.json": false, "upgrade-bake.json": false,
		// The same two after versionGateActivity (a gate is one
		// ClusterHealthGate activity; recorded the same way from the same
		// test's first upgrade).
		"upgrade-gate.json": false, "upgrade-bake-gate.json": false}
	for _, f := range files {
		want[filepath.Base(f)] = true
		t.Run(filepath.Base(f), func(t *testing.T) {
			replay(t, f, CreateCluster, ScaleShards, ScaleReplicas, DeleteCluster, Upgrade, UpgradeBake)
		})
	}
	for f, ok := range want {
		if !ok {
			t.Errorf("no recorded history %s in testdata/histories", f)
		}
	}
}

// replay replays the recorded history in file with workflows registered
// (and the operation metadata propagator every worker runs with).
func replay(t *testing.T, file string, workflows ...any) {
	t.Helper()
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		ContextPropagators: []workflow.ContextPropagator{operation.MetaPropagator{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range workflows {
		r.RegisterWorkflow(w)
	}
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
		t.Fatalf("replay %s: %v", file, err)
	}
}
