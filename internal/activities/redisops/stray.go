package redisops

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/dayops/dayops/internal/instance/handoff"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// ErrTypeNotStray is the error type of a step-down refused: the node owns
// slots, or holds keys of a slot no other primary owns.
const ErrTypeNotStray = "NotStray"

// stepDownStray runs handoff.StepDownStray on the node at addr towards the
// primary at primaryAddr: a primary owning no slot with old keys (a former
// primary back) has them discarded and replicates it. It returns how many
// keys were discarded.
func stepDownStray(ctx context.Context, adm *clusteradmin.Admin, pool *clusteradmin.ClientPool, addr, primaryAddr string) (int64, error) {
	pv, err := adm.View(ctx, primaryAddr)
	if err != nil {
		return 0, err
	}
	r, _, err := handoff.StepDownStray(ctx, pool.Client(addr), pool.Client(primaryAddr), pv.Myself.ID)
	if unsafe := (*handoff.UnsafeError)(nil); errors.As(err, &unsafe) || errors.Is(err, handoff.ErrOwnsSlots) {
		return 0, temporal.NewNonRetryableApplicationError(fmt.Sprintf("not making %s a replica of %s: %v", addr, primaryAddr, err), ErrTypeNotStray, err)
	}
	if err != nil {
		return 0, fmt.Errorf("step %s down: %w", addr, err)
	}
	return r.Discarded, nil
}
