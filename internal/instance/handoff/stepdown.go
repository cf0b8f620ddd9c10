package handoff

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Slots is the number of hash slots.
const Slots = 16384

// UnsafeError: the node holds keys of a slot (or, Claimed, owns a slot)
// that no other primary owns in the new primary's view; discarding them
// could lose the only copy (or leave the slot without an owner).
type UnsafeError struct {
	Slot    int
	Owner   string // "" (no owner) or the node itself
	Claimed bool
}

func (e *UnsafeError) Error() string {
	if e.Claimed {
		return fmt.Sprintf("slot %d is this node's and has no other owner in the new primary's view", e.Slot)
	}
	if e.Owner == "" {
		return fmt.Sprintf("slot %d has keys here and no owner in the new primary's view", e.Slot)
	}
	return fmt.Sprintf("slot %d has keys here and the new primary's view still gives it to this node", e.Slot)
}

// Result is what StepDown did.
type Result struct {
	// Discarded is how many keys the node held (all of slots other
	// primaries own); Unassigned how many slots it gave up; Closed how many
	// importing or migrating states it dropped.
	Discarded  int64 `json:"discarded"`
	Unassigned int   `json:"unassigned"`
	Closed     int   `json:"closed"`
}

// StepDown makes self, a primary that nothing writes to, the replica of the
// primary newPrimary (node ID primaryID): it checks that every slot it owns
// or holds keys of has another owner in newPrimary's view, deletes its keys,
// drops its open slots and its slot claims, and sends CLUSTER REPLICATE. It
// changes nothing when the check fails (*UnsafeError).
func StepDown(ctx context.Context, self, newPrimary *redis.Client, primaryID string) (Result, error) {
	st, err := readSelf(ctx, self)
	if err != nil {
		return Result{}, err
	}
	return st.stepDown(ctx, self, newPrimary, primaryID)
}

// selfState is what StepDown reads of the node before it changes anything.
type selfState struct {
	myID string
	mine []string // the node's own view of every slot's owner
	keys int64
	open []OpenSlot
}

func readSelf(ctx context.Context, self *redis.Client) (selfState, error) {
	var st selfState
	var err error
	if st.myID, err = self.Do(ctx, "CLUSTER", "MYID").Text(); err != nil {
		return st, fmt.Errorf("cluster myid: %w", err)
	}
	if st.mine, err = slotOwners(ctx, self); err != nil {
		return st, fmt.Errorf("own slots: %w", err)
	}
	if st.keys, err = self.DBSize(ctx).Result(); err != nil {
		return st, fmt.Errorf("dbsize: %w", err)
	}
	st.open, err = OwnOpenSlots(ctx, self)
	return st, err
}

func (st selfState) stepDown(ctx context.Context, self, newPrimary *redis.Client, primaryID string) (Result, error) {
	var res Result
	owners, err := slotOwners(ctx, newPrimary)
	if err != nil {
		return res, fmt.Errorf("the new primary's slots: %w", err)
	}
	for s := range Slots {
		if st.mine[s] == st.myID && (owners[s] == "" || owners[s] == st.myID) {
			return res, &UnsafeError{Slot: s, Owner: owners[s], Claimed: true}
		}
	}
	if res.Discarded, err = st.checkKeys(ctx, self, owners); err != nil {
		return res, err
	}
	if res.Discarded > 0 {
		if err := self.Do(ctx, "FLUSHALL", "SYNC").Err(); err != nil {
			return res, fmt.Errorf("flushall: %w", err)
		}
	}
	for _, o := range st.open {
		if err := self.Do(ctx, "CLUSTER", "SETSLOT", o.Slot, "STABLE").Err(); err != nil {
			return res, fmt.Errorf("cluster setslot %d stable: %w", o.Slot, err)
		}
		res.Closed++
	}
	if res.Unassigned, err = st.dropClaims(ctx, self); err != nil {
		return res, err
	}
	if err := self.Do(ctx, "CLUSTER", "REPLICATE", primaryID).Err(); err != nil {
		return res, fmt.Errorf("cluster replicate %s: %w", primaryID, err)
	}
	return res, nil
}

// dropClaims unassigns every slot the node owns in its own view, range by
// range; it returns how many.
func (st selfState) dropClaims(ctx context.Context, self *redis.Client) (int, error) {
	n := 0
	for s := 0; s < Slots; s++ {
		if st.mine[s] != st.myID {
			continue
		}
		e := s
		for e+1 < Slots && st.mine[e+1] == st.myID {
			e++
		}
		if err := self.Do(ctx, "CLUSTER", "DELSLOTSRANGE", s, e).Err(); err != nil {
			return n, fmt.Errorf("cluster delslotsrange %d %d: %w", s, e, err)
		}
		n += e - s + 1
		s = e
	}
	return n, nil
}

// checkKeys counts the node's keys slot by slot when it has any, and
// fails when a slot with keys has no owner but the node in owners.
func (st selfState) checkKeys(ctx context.Context, self *redis.Client, owners []string) (int64, error) {
	if st.keys == 0 {
		return 0, nil
	}
	cmds, err := self.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s := 0; s < Slots; s++ {
			p.ClusterCountKeysInSlot(ctx, s)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cluster countkeysinslot: %w", err)
	}
	var total int64
	for s, c := range cmds {
		k := c.(*redis.IntCmd).Val()
		if k == 0 {
			continue
		}
		if owners[s] == "" || owners[s] == st.myID {
			return 0, &UnsafeError{Slot: s, Owner: owners[s]}
		}
		total += k
	}
	return total, nil
}

// slotOwners is c's view of every slot's primary ("" when unassigned).
func slotOwners(ctx context.Context, c *redis.Client) ([]string, error) {
	ranges, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	owners := make([]string, Slots)
	for _, r := range ranges {
		if len(r.Nodes) == 0 || r.Start < 0 || r.End >= Slots || r.Start > r.End {
			return nil, errors.New("cluster slots: malformed range")
		}
		for s := r.Start; s <= r.End; s++ {
			owners[s] = r.Nodes[0].ID
		}
	}
	return owners, nil
}
