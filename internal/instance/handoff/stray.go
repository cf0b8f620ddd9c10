package handoff

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrOwnsSlots: StepDownStray was asked to step down a primary that owns
// slots (a shard's primary, not a stray one).
var ErrOwnsSlots = errors.New("the node owns slots: a shard's primary, not a stray one")

// StepDownStray makes self the replica of newPrimary (node primaryID) when
// self is a primary that owns no slot but holds keys or open slots: a
// former primary back with old keys, which CLUSTER REPLICATE refuses
// (StepDown, with its check that every key's slot has another owner). A
// replica, or an empty primary with nothing open, is left for CLUSTER
// REPLICATE as it is (stepped false); a primary that owns slots is
// ErrOwnsSlots.
func StepDownStray(ctx context.Context, self, newPrimary *redis.Client, primaryID string) (r Result, stepped bool, err error) {
	role, err := self.Do(ctx, "ROLE").Slice()
	if err != nil || len(role) == 0 {
		return r, false, fmt.Errorf("role: %w", err)
	}
	if role[0] != "master" {
		return r, false, nil
	}
	st, err := readSelf(ctx, self)
	if err != nil {
		return r, false, err
	}
	for s, owner := range st.mine {
		if owner == st.myID {
			return r, false, fmt.Errorf("slot %d: %w", s, ErrOwnsSlots)
		}
	}
	if st.keys == 0 && len(st.open) == 0 {
		return r, false, nil
	}
	r, err = st.stepDown(ctx, self, newPrimary, primaryID)
	return r, err == nil, err
}
