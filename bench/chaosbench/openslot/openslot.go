// Package openslot holds the chaos scenario of a slot that a slot move cut
// short left open (its workflow terminated while its worker was down):
// MIGRATING on the source's primary, IMPORTING on the target's, half of its
// keys already moved to the target. Then the target's primary Pod is
// force-deleted: Redis promotes its replica, which holds the moved keys but
// was never IMPORTING, and the source still sends those keys' clients to
// the dead node (ASK). The guardian's recover closes the slot before it
// brings the Pod back: towards the promoted replica, which takes the lost
// node's place (a node that forgets a node drops the slots open towards
// it, which would strand the moved keys). Every key of the slot must read
// back with its value, and no slot may stay open.
package openslot

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// Scenario is open-slot's label, LeftScenario open-slot-left's.
const (
	Scenario     = "force-delete the target primary of a slot a cut-short move left open, half its keys moved"
	LeftScenario = "a slot a cut-short move left open, half its keys moved, no operation running"
)

// CloseLimit bounds open-slot-left's wait for the guardian to have the slot
// closed (two sweeps 15 s apart find it, then a recover closes it).
const CloseLimit = 2 * time.Minute

// Keys is how many keys the open slot holds.
const Keys = 200

// Run runs open-slot: a slot of shard src is left open towards shard dst,
// then dst's primary Pod is force-deleted.
func Run(ctx context.Context, b *chaosbench.Bench, src, dst int) (chaosbench.Figure, error) {
	fail := func(err error) (chaosbench.Figure, error) {
		return chaosbench.Figure{Scenario: Scenario}, fmt.Errorf("%s: %w", Scenario, err)
	}
	pr, err := prepare(ctx, b, src, dst)
	if err != nil {
		return fail(err)
	}
	defer pr.close()
	slot, keys := pr.slot, pr.keys
	if err := pr.open(ctx); err != nil {
		return fail(err)
	}
	b.Log.Info("chaos: slot left open", "scenario", Scenario, "slot", slot, "from_shard", src, "to_shard", dst, "moved", Keys/2)
	f, err := b.Measure(ctx, Scenario, dst, true, func(ctx context.Context, f *chaosbench.Figure) error {
		return benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, pr.dp.Name)
	})
	if err != nil {
		return f, err
	}
	note, err := check(ctx, b, slot, keys, src, dst)
	f.Note = fmt.Sprintf("slot %d of shard-%d left open towards shard-%d with %d of its %d keys moved; %s", slot, src, dst, Keys/2, Keys, note)
	if err != nil {
		return f, fmt.Errorf("%s: %w", Scenario, err)
	}
	return f, nil
}

// RunLeft runs open-slot-left: a slot of shard src is left open towards
// shard dst and nothing else happens. The guardian must find it and start a
// recover that closes it within CloseLimit; the recover must succeed.
func RunLeft(ctx context.Context, b *chaosbench.Bench, src, dst int) (chaosbench.Figure, error) {
	f := chaosbench.Figure{Scenario: LeftScenario}
	fail := func(err error) (chaosbench.Figure, error) { return f, fmt.Errorf("%s: %w", LeftScenario, err) }
	gh, err := b.Health(ctx)
	if err != nil {
		return fail(err)
	}
	pr, err := prepare(ctx, b, src, dst)
	if err != nil {
		return fail(err)
	}
	defer pr.close()
	slot, keys := pr.slot, pr.keys
	span, err := b.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	if err := pr.open(ctx); err != nil {
		return fail(err)
	}
	left := time.Now()
	b.Log.Info("chaos: slot left open", "scenario", LeftScenario, "slot", slot, "from_shard", src, "to_shard", dst, "moved", Keys/2)
	var rec string
	for {
		h, err := b.Health(ctx)
		if err == nil && h.LastRecovery != gh.LastRecovery {
			rec = h.LastRecovery
			break
		}
		if time.Since(left) > CloseLimit {
			return fail(fmt.Errorf("the guardian started no recover %s after slot %d was left open", CloseLimit, slot))
		}
		if err := benchkit.Sleep(ctx, 200*time.Millisecond); err != nil {
			return fail(err)
		}
	}
	found := time.Since(left)
	op, err := b.WaitOperation(ctx, rec, CloseLimit)
	if err != nil {
		return fail(err)
	}
	closed := time.Since(left)
	note, err := check(ctx, b, slot, keys, src, dst)
	f.Note = fmt.Sprintf("slot %d of shard-%d left open towards shard-%d with %d of its %d keys moved; the guardian started a recover %s later, "+
		"which ended %s %s after; %s", slot, src, dst, Keys/2, Keys, found.Round(100*time.Millisecond),
		op.Status, (closed - found).Round(100*time.Millisecond), note)
	if err == nil && op.Status != "Completed" {
		err = fmt.Errorf("the recover ended %s: %s", op.Status, op.Error)
	}
	if eerr := b.End(ctx, span, &f); err == nil {
		err = eerr
	}
	if err != nil {
		return fail(err)
	}
	return f, nil
}

// pair is a scenario's source and target primaries, with a client to each,
// and the slot of the source it filled with keys.
type pair struct {
	password string
	dp       corev1.Pod
	sc, dc   *redis.Client
	slot     int
	keys     []string
}

// prepare connects to the primaries of shards src and dst and fills a slot
// of src.
func prepare(ctx context.Context, b *chaosbench.Bench, src, dst int) (*pair, error) {
	creds, err := b.Credentials(ctx)
	if err != nil {
		return nil, err
	}
	sp, err := b.PrimaryOf(ctx, src)
	if err != nil {
		return nil, err
	}
	dp, err := b.PrimaryOf(ctx, dst)
	if err != nil {
		return nil, err
	}
	client := func(p corev1.Pod) *redis.Client {
		return redis.NewClient(&redis.Options{Addr: addr(p), Password: creds.Password, Protocol: 2, DisableIdentity: true})
	}
	pr := &pair{password: creds.Password, dp: dp, sc: client(sp), dc: client(dp)}
	if pr.slot, pr.keys, err = fill(ctx, b, pr.sc); err != nil {
		pr.close()
		return nil, err
	}
	return pr, nil
}

func (pr *pair) close() {
	pr.sc.Close()
	pr.dc.Close()
}

func addr(p corev1.Pod) string {
	return benchkit.PodAddr(p.Status.PodIP)
}

// fill writes Keys keys into one slot the primary of sc owns, through the
// cluster, and returns the slot and the keys (their values are the keys).
func fill(ctx context.Context, b *chaosbench.Bench, sc *redis.Client) (int, []string, error) {
	cc, err := b.Client(ctx)
	if err != nil {
		return 0, nil, err
	}
	defer cc.Close()
	return redistest.FillSlot(ctx, cc, sc, "open-slot-", Keys)
}

// open opens the slot from the source towards the target (IMPORTING
// first, as a move does), moves half its keys with MIGRATE and waits until the
// target's replica has them.
func (pr *pair) open(ctx context.Context) error {
	sc, dc, slot, keys := pr.sc, pr.dc, pr.slot, pr.keys[:Keys/2]
	sv, err := view(ctx, sc)
	if err != nil {
		return err
	}
	dv, err := view(ctx, dc)
	if err != nil {
		return err
	}
	if err := redistest.OpenWith(ctx, sc, dc, sv.Myself.ID, dv.Myself.ID, addr(pr.dp), pr.password, slot, keys); err != nil {
		return err
	}
	if n, err := dc.Do(ctx, "wait", 1, 5000).Int(); err != nil || n < 1 {
		return fmt.Errorf("the moved keys reached %d replicas of the target (%v), want 1", n, err)
	}
	return nil
}

func view(ctx context.Context, c *redis.Client) (clusteradmin.ClusterView, error) {
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return clusteradmin.ClusterView{}, err
	}
	return clusteradmin.ParseClusterNodes(text)
}

// check asserts that no primary has a slot open and that every key of the
// slot reads back with its value; it says which shard owns the slot.
func check(ctx context.Context, b *chaosbench.Bench, slot int, keys []string, shards ...int) (string, error) {
	cc, err := b.Client(ctx)
	if err != nil {
		return "", err
	}
	defer cc.Close()
	var owner string
	err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		v, err := view(ctx, c)
		if err != nil {
			return err
		}
		if len(v.Myself.Migrating)+len(v.Myself.Importing) > 0 {
			return fmt.Errorf("%s still has slots open: migrating %v, importing %v", c.Options().Addr, v.Myself.Migrating, v.Myself.Importing)
		}
		if v.Myself.Slots.Contains(slot) {
			owner = c.Options().Addr
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	missing := 0
	for _, k := range keys {
		got, err := cc.Get(ctx, k).Result()
		if err != nil || got != k {
			missing++
		}
	}
	for _, sh := range shards {
		if p, err := b.PrimaryOf(ctx, sh); err == nil && addr(p) == owner {
			owner = fmt.Sprintf("shard-%d's primary %s", sh, p.Name)
		}
	}
	note := fmt.Sprintf("closed, owned by %s, %d of %d keys read back", owner, len(keys)-missing, len(keys))
	if missing > 0 {
		return note, fmt.Errorf("%d of the open slot's %d keys did not read back after the repair", missing, len(keys))
	}
	return note, nil
}
