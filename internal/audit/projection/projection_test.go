package projection_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// view is the part of a cluster state the as-of test compares.
type view struct {
	Deleted   bool
	Shards    map[int]int    // shard -> slot count
	Roles     map[int]string // ordinal -> role
	Images    map[int]string // ordinal -> redis version
	LastOp    string
	LastState string
}

func viewOf(c *projection.ClusterState) view {
	v := view{Deleted: c.Deleted, Shards: map[int]int{}, Roles: map[int]string{}, Images: map[int]string{}}
	for id, s := range c.Shards {
		n := 0
		for _, r := range s.Slots {
			n += r.End - r.Start + 1
		}
		v.Shards[id] = n
	}
	for o, in := range c.Instances {
		v.Roles[o], v.Images[o] = in.Role, in.RedisVersion
	}
	if c.LastOperation != nil {
		v.LastOp, v.LastState = c.LastOperation.ID, c.LastOperation.Status
	}
	return v
}

func TestClusterAsOf(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	type mark struct {
		pos int64
		at  time.Time
	}
	marks := map[string]mark{}
	note := func(name string, pos int64) {
		evs, err := s.Query(ctx, eventstore.Filter{UpTo: pos, After: pos - 1})
		if err != nil || len(evs) != 1 {
			t.Fatalf("read %d: %v", pos, err)
		}
		marks[name] = mark{pos, evs[0].RecordedAt}
	}

	note("created", createCluster(t, s, "orders", "op-create", 3))
	createCluster(t, s, "carts", "op-carts", 2) // another cluster interleaved: must not leak in

	// Scale out 3 -> 4 shards: shard 3 takes a slice from each.
	em := &emitter{t: t, s: s, op: "op-scale", actor: "bob"}
	em.emit(audit.OperationRequested{OperationID: "op-scale", Cluster: "orders", Kind: "scale-shards"},
		audit.OperationStarted{OperationID: "op-scale", Cluster: "orders"},
		audit.ShardAdded{Cluster: "orders", Shard: 3},
		audit.InstanceCreated{Cluster: "orders", Shard: 3, Ordinal: 6, Pod: "orders-6", Zone: "a", Role: audit.RolePrimary, RedisVersion: "7.0.15"})
	note("scaling", em.emit(audit.SlotsMigrated{Cluster: "orders", FromShard: 0, ToShard: 3, Slots: []audit.SlotRange{{Start: 0, End: 1364}}}))
	em.emit(audit.SlotsMigrated{Cluster: "orders", FromShard: 1, ToShard: 3, Slots: []audit.SlotRange{{Start: 5461, End: 6825}}},
		audit.SlotsMigrated{Cluster: "orders", FromShard: 2, ToShard: 3, Slots: []audit.SlotRange{{Start: 10922, End: 12287}}})
	note("scaled", em.emit(audit.OperationCompleted{OperationID: "op-scale", Cluster: "orders"}))

	// A switchover written by an older dayops: RoleChanged v1 with Redis words.
	em = &emitter{t: t, s: s, op: "op-switch", actor: "carol"}
	em.emit(audit.OperationRequested{OperationID: "op-switch", Cluster: "orders", Kind: "switchover"})
	em.emitRaw(eventstore.ClusterStream("orders"), audit.TypeRoleChanged, 1, `{"cluster":"orders","ordinal":0,"role":"slave","previous_role":"master"}`)
	em.emitRaw(eventstore.ClusterStream("orders"), audit.TypeRoleChanged, 1, `{"cluster":"orders","ordinal":1,"role":"master"}`)
	note("switched", em.emit(audit.OperationCompleted{OperationID: "op-switch", Cluster: "orders"}))

	// A failed upgrade: one instance upgraded, then failure.
	em = &emitter{t: t, s: s, op: "op-upgrade", actor: "dave"}
	em.emit(audit.OperationRequested{OperationID: "op-upgrade", Cluster: "orders", Kind: "upgrade"},
		audit.OperationStarted{OperationID: "op-upgrade", Cluster: "orders"},
		audit.StepStarted{OperationID: "op-upgrade", Cluster: "orders", StepID: "upgrade-0", Name: "upgrade replica"},
		audit.ImageChanged{Cluster: "orders", Ordinal: 0, Image: "redis:7.2.4", RedisVersion: "7.2.4"},
		audit.StepFailed{OperationID: "op-upgrade", Cluster: "orders", StepID: "upgrade-0", Error: "health gate: replica lag"})
	note("failed", em.emit(audit.OperationFailed{OperationID: "op-upgrade", Cluster: "orders", Error: "canary failed"}))
	em.emit(audit.ClusterDeleted{Cluster: "orders"})

	created := view{
		Shards: map[int]int{0: 5461, 1: 5461, 2: 5462},
		Roles:  map[int]string{0: "primary", 1: "replica", 2: "primary", 3: "replica", 4: "primary", 5: "replica"},
		Images: map[int]string{0: "7.0.15", 1: "7.0.15", 2: "7.0.15", 3: "7.0.15", 4: "7.0.15", 5: "7.0.15"},
		LastOp: "op-create", LastState: "completed",
	}
	scaling := created
	scaling.Shards = map[int]int{0: 4096, 1: 5461, 2: 5462, 3: 1365}
	scaling.Roles = map[int]string{0: "primary", 1: "replica", 2: "primary", 3: "replica", 4: "primary", 5: "replica", 6: "primary"}
	scaling.Images = map[int]string{0: "7.0.15", 1: "7.0.15", 2: "7.0.15", 3: "7.0.15", 4: "7.0.15", 5: "7.0.15", 6: "7.0.15"}
	scaling.LastOp, scaling.LastState = "op-scale", "running"
	scaled := scaling
	scaled.Shards = map[int]int{0: 4096, 1: 4096, 2: 4096, 3: 4096}
	scaled.LastState = "completed"
	switched := scaled
	switched.Roles = map[int]string{0: "replica", 1: "primary", 2: "primary", 3: "replica", 4: "primary", 5: "replica", 6: "primary"}
	switched.LastOp = "op-switch"
	failed := switched
	failed.Images = map[int]string{0: "7.2.4", 1: "7.0.15", 2: "7.0.15", 3: "7.0.15", 4: "7.0.15", 5: "7.0.15", 6: "7.0.15"}
	failed.LastOp, failed.LastState = "op-upgrade", "failed"
	deleted := failed
	deleted.Deleted, deleted.Shards, deleted.Roles, deleted.Images = true, map[int]int{}, map[int]string{}, map[int]string{}

	for name, want := range map[string]view{"created": created, "scaling": scaling, "scaled": scaled, "switched": switched, "failed": failed} {
		for _, by := range []string{"position", "time"} {
			t.Run(name+" by "+by, func(t *testing.T) {
				b := projection.Bound{Position: marks[name].pos}
				if by == "time" {
					b = projection.Bound{Time: marks[name].at}
				}
				c, _, err := projection.ClusterAsOf(ctx, s, "orders", b)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, viewOf(c)); diff != "" {
					t.Errorf("orders as of %s (-want +got):\n%s", name, diff)
				}
			})
		}
	}
	c, tls, err := projection.ClusterAsOf(ctx, s, "orders", projection.Bound{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(deleted, viewOf(c)); diff != "" {
		t.Errorf("orders now (-want +got):\n%s", diff)
	}
	var ops []string
	for _, tl := range tls {
		ops = append(ops, tl.OperationID+":"+tl.Status)
	}
	if diff := cmp.Diff([]string{"op-create:completed", "op-scale:completed", "op-switch:completed", "op-upgrade:failed"}, ops); diff != "" {
		t.Errorf("timelines (-want +got):\n%s", diff)
	}
	up := tls[3]
	if len(up.Steps) != 1 || up.Steps[0].Outcome != "failed" || up.Steps[0].Error != "health gate: replica lag" ||
		up.Steps[0].Start.IsZero() || up.Steps[0].End.Before(up.Steps[0].Start) || up.Actor != "dave" {
		t.Errorf("upgrade timeline: %+v", up)
	}
	if _, _, err := projection.ClusterAsOf(ctx, s, "orders", projection.Bound{Time: marks["created"].at.Add(-time.Hour)}); !errors.Is(err, projection.ErrClusterNotFound) {
		t.Errorf("before creation: %v", err)
	}
}

// The projector follows the log live (restarted twice) while operations are
// written concurrently; its tables then equal a rebuild from scratch.
func TestRebuiltProjectionEqualsLive(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	pj, err := projection.NewProjector(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			createCluster(t, s, fmt.Sprintf("c%d", i), fmt.Sprintf("op-c%d", i), 3+i)
			em := &emitter{t: t, s: s, op: fmt.Sprintf("op-r%d", i), actor: "eve"}
			em.emit(audit.OperationRequested{OperationID: em.op, Cluster: fmt.Sprintf("c%d", i), Kind: "scale-replicas"},
				audit.OperationStarted{OperationID: em.op, Cluster: fmt.Sprintf("c%d", i)},
				audit.InstanceCreated{Cluster: fmt.Sprintf("c%d", i), Shard: 0, Ordinal: 100, Role: audit.RoleReplica},
				audit.ReplicaAdded{Cluster: fmt.Sprintf("c%d", i), Shard: 0, Ordinal: 100},
				audit.ReplicaRemoved{Cluster: fmt.Sprintf("c%d", i), Shard: 0, Ordinal: 1},
				audit.InstanceDeleted{Cluster: fmt.Sprintf("c%d", i), Ordinal: 1},
				audit.OperationCancelled{OperationID: em.op, Cluster: fmt.Sprintf("c%d", i), Reason: "changed my mind"})
		})
	}
	opts := eventstore.SubscribeOptions{BatchSize: 7, PollInterval: 20 * time.Millisecond}
	for run := range 2 {
		rctx, cancel := context.WithTimeout(ctx, time.Duration(40+run*60)*time.Millisecond)
		if err := pj.Run(rctx, opts); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("run %d: %v", run, err)
		}
		cancel()
	}
	wg.Wait()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pj.Run(rctx, opts) }()
	head, _, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		pos, err := s.SubscriberPosition(ctx, projection.SubscriberName)
		if err != nil {
			t.Fatal(err)
		}
		if pos == head {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("projector at %d, head %d", pos, head)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	live, err := pj.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := projection.Rebuild(ctx, s, projection.Bound{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rebuilt.Clusters) != 4 || len(rebuilt.Operations) != 8 {
		t.Fatalf("rebuilt %d clusters, %d operations", len(rebuilt.Clusters), len(rebuilt.Operations))
	}
	if diff := cmp.Diff(rebuilt, live, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("live projection differs from rebuild (-rebuilt +live):\n%s", diff)
	}
}
