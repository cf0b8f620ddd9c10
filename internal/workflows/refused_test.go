package workflows

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/redis/misconf"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
)

const fullDisk = "MISCONF Errors writing to the AOF file: No space left on device"

// TestGuardianHandsARefusingShardToItsReplica: a sweep finds shard-0's
// primary refusing writes (its disk is full) with its replica taking PINGs:
// the guardian starts a switchover of shard 0, the zone rule giving way; a
// first start finds another operation holding the cluster and records
// nothing, the next sweep's starts it and records WritesRefused under its
// operation ID; the same refusal seen again at once waits for the back-off.
func TestGuardianHandsARefusingShardToItsReplica(t *testing.T) {
	env := healEnv(t)
	healthy := assess(healWorld(false), nil)
	refused := []misconf.Refusal{{Ordinal: 0, Shard: 0, Reason: fullDisk, Replicas: []int{2}}}
	watch := func(guardian.WatchInput) guardian.WatchResult {
		return guardian.WatchResult{Observation: healthy, Observations: 1, WritesRefused: refused}
	}
	watchesOf(env, watch, watch, watch)
	events := recordedEvents(env)
	env.OnActivity(guardianActs.EnsureReadServices, mock.Anything, mock.Anything).Return(nil)
	var starts []guardian.StartRecoverInput
	var sin SwitchoverInput
	env.OnActivity(guardianActs.StartRecover, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.StartRecoverInput) (guardian.StartRecoverResult, error) {
			starts = append(starts, in)
			b, _ := json.Marshal(in.Input)
			if err := json.Unmarshal(b, &sin); err != nil {
				t.Error(err)
			}
			if len(starts) == 1 {
				return guardian.StartRecoverResult{Busy: "Upgrade dayops/default/orders/upgrade"}, nil
			}
			return guardian.StartRecoverResult{Started: true}, nil
		})
	env.ExecuteWorkflow(Guardian, GuardianInput{Namespace: "default", Cluster: "orders", Known: healthy.Assessment.Known})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(starts) != 2 {
		t.Fatalf("%d starts, want two: one refused, one switchover", len(starts))
	}
	m := starts[1].Meta
	if starts[1].Workflow != "Switchover" || m.Type != OpSwitchover || m.Actor != audit.SystemActor ||
		m.Reason != "shard-0's primary (ordinal 0) refuses writes: "+fullDisk+"; handing the shard to a replica whose disk takes writes" {
		t.Errorf("started %s %+v", starts[1].Workflow, m)
	}
	if sin.Shard != 0 || sin.To != -1 || !sin.AllowSharedZones || sin.Meta.OperationID != m.OperationID {
		t.Errorf("switchover input %+v", sin)
	}
	want := []string{`{"cluster":"default/orders","shard":0,"ordinal":0,"reason":"` + fullDisk + `","action":"switchover","operation_id":"` + m.OperationID + `"}`}
	if diff := cmp.Diff(want, (*events)[audit.TypeWritesRefused]); diff != "" {
		t.Errorf("WritesRefused events (-want +got):\n%s", diff)
	}
}

// TestGuardianRecordsARefusalNoReplicaCanTakeOver: the shard's replica
// refuses writes too (the same disk trouble): no switchover, the refusal
// recorded with action none.
func TestGuardianRecordsARefusalNoReplicaCanTakeOver(t *testing.T) {
	env := healEnv(t)
	healthy := assess(healWorld(false), nil)
	watchesOf(env, func(guardian.WatchInput) guardian.WatchResult {
		return guardian.WatchResult{Observation: healthy, Observations: 1,
			WritesRefused: []misconf.Refusal{{Ordinal: 1, Shard: 1, Reason: fullDisk}}}
	})
	events := recordedEvents(env)
	env.OnActivity(guardianActs.EnsureReadServices, mock.Anything, mock.Anything).Return(nil)
	env.ExecuteWorkflow(Guardian, GuardianInput{Namespace: "default", Cluster: "orders", Known: healthy.Assessment.Known})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"cluster":"default/orders","shard":1,"ordinal":1,"reason":"` + fullDisk + `","action":"none"}`}
	if diff := cmp.Diff(want, (*events)[audit.TypeWritesRefused]); diff != "" {
		t.Errorf("WritesRefused events (-want +got):\n%s", diff)
	}
}

// recordedEvents mocks RecordEvents and collects each event's payload by
// type.
func recordedEvents(env *testsuite.TestWorkflowEnvironment) *map[string][]string {
	out := &map[string][]string{}
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in auditlog.RecordInput) (auditlog.RecordResult, error) {
			for _, e := range in.Events {
				(*out)[e.Type] = append((*out)[e.Type], string(e.Payload))
			}
			return auditlog.RecordResult{}, nil
		})
	return out
}
