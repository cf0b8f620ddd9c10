package redisops

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/temporal"

	"github.com/dayops/dayops/internal/testutil/redistest"
)

// A primary that owns no slot and holds old keys of another primary's slot
// (Redis set the slot importing when it loaded them) is refused by CLUSTER
// REPLICATE; AttachReplicas with StepDown discards those keys and makes it
// the primary's replica, in sync, the owner's values intact. A primary that
// owns slots is never stepped down.
func TestAttachReplicasStepsDownAStrayPrimary(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, env, acts := activitiesOn(t, redistest.Options{Primaries: 2, Config: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	cc := c.ClusterClient()
	defer cc.Close()
	const n = 50
	key := func(i int) string { return fmt.Sprintf("{stray}k%d", i) }
	for i := range n {
		if err := cc.Set(ctx, key(i), "new", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	v, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slot := int(c.Pool.Client(c.Addrs()[0]).ClusterKeySlot(ctx, key(0)).Val())
	ownerID := v.Owner(slot)
	owner, other := v.Nodes[ownerID].Addr, ""
	for _, a := range c.Addrs() {
		if a != owner {
			other = a
		}
	}
	stray, err := c.AddPrimary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn := c.Pool.Client(stray.Addr).Conn()
	defer conn.Close()
	if err := conn.Do(ctx, "cluster", "setslot", slot, "importing", ownerID).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Do(ctx, "asking")
			p.Set(ctx, key(i), "old", 0)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Do(ctx, "cluster", "setslot", slot, "stable").Err(); err != nil {
		t.Fatal(err)
	}
	if err := stray.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if sv, err := c.Admin.View(ctx, stray.Addr); err != nil || sv.Myself.Importing[slot] != ownerID {
		t.Fatalf("after its restart the stray primary imports %v (%v), want slot %d from %s as Redis sets it at load", sv.Myself.Importing, err, slot, ownerID)
	}

	pair := []ReplicaPair{{Replica: stray.Addr, Primary: owner}}
	if _, err := env.ExecuteActivity(acts.AttachReplicas, AttachReplicasInput{Pairs: pair}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("without StepDown: %v, want CLUSTER REPLICATE's refusal of a node with keys", err)
	}
	var res AttachReplicasResult
	get(t, env, acts.AttachReplicas, AttachReplicasInput{Pairs: pair, StepDown: true}, &res)
	if res.Discarded != n {
		t.Errorf("discarded %d keys, want %d", res.Discarded, n)
	}
	sv, err := c.Admin.View(ctx, stray.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if sv.Myself.PrimaryID != ownerID || len(sv.Myself.Importing) > 0 {
		t.Errorf("stray node: replica of %q, importing %v; want a replica of %s, nothing open", sv.Myself.PrimaryID, sv.Myself.Importing, ownerID)
	}
	for i := range n {
		if got, err := cc.Get(ctx, key(i)).Result(); err != nil || got != "new" {
			t.Errorf("%s = %q, %v; want the owner's value", key(i), got, err)
		}
	}
	want, _ := c.Pool.Client(owner).DBSize(ctx).Result()
	if got, _ := c.Pool.Client(stray.Addr).DBSize(ctx).Result(); got != want {
		t.Errorf("the new replica holds %d keys, its primary %d", got, want)
	}

	_, err = env.ExecuteActivity(acts.AttachReplicas, AttachReplicasInput{Pairs: []ReplicaPair{{Replica: other, Primary: owner}}, StepDown: true})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != ErrTypeNotStray || !app.NonRetryable() {
		t.Fatalf("stepping down a primary that owns slots: %v, want a non-retryable %s", err, ErrTypeNotStray)
	}
}
