package projection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/testutil/pgtest"
)

func newStore(t *testing.T) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(t.Context(), pgtest.Pool(t), eventstore.Options{Upcasters: audit.Upcasters()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// emitter appends typed payloads the way workflow steps will: one event ID
// per (workflow, activity, seq).
type emitter struct {
	t     testing.TB
	s     *eventstore.Store
	op    string
	actor string
	seq   int
}

func (em *emitter) emit(ps ...audit.Payload) int64 {
	em.t.Helper()
	var last int64
	for _, p := range ps {
		em.seq++
		e, err := audit.NewEvent(eventstore.StepEventID("wf-"+em.op, "act", em.seq), p,
			eventstore.Metadata{Actor: em.actor, Reason: "scenario", CorrelationID: em.op})
		if err != nil {
			em.fail(err)
		}
		r, err := em.s.Append(context.Background(), audit.Stream(p), eventstore.Any(), e)
		if err != nil {
			em.fail(err)
		}
		last = r.Positions[0]
	}
	return last
}

// fail reports err and ends the calling goroutine (emitters also run in
// goroutines other than the test's, where t.Fatal is not allowed).
func (em *emitter) fail(err error) {
	em.t.Helper()
	em.t.Errorf("emit: %v", err)
	runtime.Goexit()
}

// emitRaw appends an event at an old schema version, as an older dayops wrote it.
func (em *emitter) emitRaw(stream eventstore.StreamName, typ string, version int, payload string) int64 {
	em.t.Helper()
	em.seq++
	r, err := em.s.Append(context.Background(), stream, eventstore.Any(), eventstore.EventData{
		ID: eventstore.StepEventID("wf-"+em.op, "act", em.seq), Type: typ, SchemaVersion: version,
		Payload: json.RawMessage(payload), Metadata: eventstore.Metadata{Actor: em.actor, CorrelationID: em.op}})
	if err != nil {
		em.fail(err)
	}
	return r.Positions[0]
}

// createCluster emits a complete create operation: shards primaries in
// zones a/b/c, one replica each in the next zone, slots split evenly.
func createCluster(t testing.TB, s *eventstore.Store, cluster, op string, shards int) int64 {
	em := &emitter{t: t, s: s, op: op, actor: "alice"}
	em.emit(audit.OperationRequested{OperationID: op, Cluster: cluster, Kind: "create"},
		audit.OperationStarted{OperationID: op, Cluster: cluster, WorkflowID: "cluster-" + cluster},
		audit.ClusterCreated{Cluster: cluster, RedisVersion: "7.0.15", Image: "redis:7.0.15", Shards: shards, ReplicasPerShard: 1})
	zones := []string{"a", "b", "c"}
	per := 16384 / shards
	for sh := range shards {
		step := fmt.Sprintf("create-shard-%d", sh)
		em.emit(audit.StepStarted{OperationID: op, Cluster: cluster, StepID: step, Name: "create shard"},
			audit.ShardAdded{Cluster: cluster, Shard: sh},
			audit.InstanceCreated{Cluster: cluster, Shard: sh, Ordinal: 2 * sh, Pod: fmt.Sprintf("%s-%d", cluster, 2*sh),
				Zone: zones[sh%3], Role: audit.RolePrimary, Image: "redis:7.0.15", RedisVersion: "7.0.15"},
			audit.InstanceCreated{Cluster: cluster, Shard: sh, Ordinal: 2*sh + 1, Pod: fmt.Sprintf("%s-%d", cluster, 2*sh+1),
				Zone: zones[(sh+1)%3], Role: audit.RoleReplica, Image: "redis:7.0.15", RedisVersion: "7.0.15"},
			audit.ReplicaAdded{Cluster: cluster, Shard: sh, Ordinal: 2*sh + 1})
		end := (sh+1)*per - 1
		if sh == shards-1 {
			end = 16383
		}
		em.emit(audit.SlotsAssigned{Cluster: cluster, Shard: sh, Slots: []audit.SlotRange{{Start: sh * per, End: end}}},
			audit.HookRan{OperationID: op, Cluster: cluster, Hook: "notify", Point: "post-create-shard", Outcome: "succeeded", DurationMS: 12},
			audit.StepCompleted{OperationID: op, Cluster: cluster, StepID: step})
	}
	return em.emit(audit.OperationCompleted{OperationID: op, Cluster: cluster})
}
