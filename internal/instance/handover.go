package instance

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// handOverOpenSlots gives the replica that took this node's place (np) the
// slot moves this node had in flight, nodes.conf's [slot->-id] and
// [slot-<-id]. MIGRATING and IMPORTING are a node's own and do not pass to
// its replica: without this the new primary serves a slot it was migrating
// as if none of its keys had moved (a read of a moved key finds nothing, a
// write makes a second copy), and the other end keeps pointing at this
// node: a target importing from it drops the slot's owner once it hears
// that this node is a replica (Redis skips a newer claim of a slot it
// imports) and answers CLUSTERDOWN to every key; a source migrating to it
// sends clients (ASK) to a replica.
//
// A slot this node migrated to T: the new primary migrates it to T, and T,
// if it still imports it from this node, takes the new primary for its
// owner (SETSLOT NODE) and imports it from it. A slot it imported from S:
// the new primary imports it from S, and S, if it still migrates it to this
// node, migrates it to the new primary. The move itself (the migration
// activity, whose next run follows the failover) finishes the slots. A
// step that fails is logged and left to that run.
func handOverOpenSlots(ctx context.Context, log *slog.Logger, nodes []ClusterNode, self ClusterNode, np *Peer, pass string) {
	if len(self.Open) == 0 {
		return
	}
	addrOf := map[string]string{}
	for _, n := range nodes {
		addrOf[n.ID] = n.Addr
	}
	primary := peerClient(np.Addr, pass)
	defer primary.Close()
	for _, o := range self.Open {
		other, mine := o.To, []any{"migrating", o.To}
		if o.From != "" {
			other, mine = o.From, []any{"importing", o.From}
		}
		if err := setSlot(ctx, primary, o.Slot, mine...); err != nil {
			log.Warn("fence: hand an open slot to the new primary", "slot", o.Slot, "primary", np.Addr, "err", err)
			continue
		}
		addr := addrOf[other]
		if addr == "" {
			continue
		}
		c := peerClient(addr, pass)
		err := repointOtherEnd(ctx, c, o, self.ID, np.ID)
		c.Close()
		if err != nil {
			log.Warn("fence: repoint the other end of an open slot", "slot", o.Slot, "node", addr, "err", err)
			continue
		}
		log.Info("fence: open slot handed to the new primary", "slot", o.Slot, "primary", np.Addr, "other_end", other,
			"migrating", o.To != "")
	}
}

// repointOtherEnd points the other end of open slot o at the new primary,
// if it still points at this node (self).
func repointOtherEnd(ctx context.Context, c *redis.Client, o OpenSlot, self, np string) error {
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return err
	}
	nodes, err := ParseClusterNodes([]byte(text))
	if err != nil {
		return err
	}
	me, _ := Self(nodes)
	for _, x := range me.Open {
		switch {
		case x.Slot != o.Slot:
		case o.To != "" && x.From == self: // the target, importing from this node
			if err := setSlot(ctx, c, o.Slot, "node", np); err != nil {
				return err
			}
			return setSlot(ctx, c, o.Slot, "importing", np)
		case o.From != "" && x.To == self: // the source, migrating to this node
			return setSlot(ctx, c, o.Slot, "migrating", np)
		}
	}
	return nil
}

// setSlot runs CLUSTER SETSLOT slot args... on c, again for up to 10 s while
// it fails: a node refuses a node it does not know as a primary yet (the
// new primary's claim reaches it a moment after the takeover).
func setSlot(ctx context.Context, c *redis.Client, slot int, args ...any) error {
	cmd := append([]any{"cluster", "setslot", slot}, args...)
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; sleep(ctx, 100*time.Millisecond) {
		if err = c.Do(ctx, cmd...).Err(); err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("cluster setslot %d %v on %s: %w", slot, args, c.Options().Addr, err)
	}
	return nil
}
