package redisops

import (
	"context"
	"time"

	"github.com/dayops/dayops/internal/redis/failover"
)

// TakeOverLostInput names the replica that takes the place of a primary
// lost with its data (failover.TakeOverLost).
type TakeOverLostInput struct {
	Auth        Auth   `json:"auth"`
	ReplicaAddr string `json:"replicaAddr"`
	Label       string `json:"label,omitempty"`
	// OnlyUnelectable: only if Redis will never elect it (failover.TakeOverUnelectable). The JSON
	// name is the one recorded histories and in-flight tasks carry (it once took noaddr only).
	OnlyUnelectable bool `json:"onlyUnaddressed,omitempty"`
	// WaitUnelectable (with OnlyUnelectable): how long the replica's view is read again
	// until it shows a reason (failover.TakeOverUnelectable).
	WaitUnelectable time.Duration `json:"waitUnelectable,omitempty"`
}

// StepTarget names the takeover in audit step events.
func (in TakeOverLostInput) StepTarget() string { return in.Label }

// TakeOverLost promotes a replica whose primary is lost for good with its own
// copy of the shard (failover.TakeOverLost, or TakeOverUnelectable).
func (a *Activities) TakeOverLost(ctx context.Context, in TakeOverLostInput) (HandoverResult, error) {
	adm, _, err := a.admin(ctx, in.Auth)
	if err != nil {
		return HandoverResult{}, err
	}
	stop := HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	r, err := failover.TakeOver(ctx, adm, in.ReplicaAddr, in.OnlyUnelectable, in.WaitUnelectable, 2*time.Minute)
	return HandoverResult{NewPrimaryID: r.NewPrimaryID, OldPrimaryID: r.OldPrimaryID, AlreadyPrimary: r.AlreadyPrimary,
		Attempts: r.Attempts, Method: r.Method, Why: r.Why}, classify(err)
}
