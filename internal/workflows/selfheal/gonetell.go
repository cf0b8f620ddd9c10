package selfheal

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/notify"
	"github.com/dayops/dayops/internal/workflows/flow"
	"github.com/dayops/dayops/internal/workflows/selfheal/observed"
)

// notifyActs names the activities that tell instance managers things.
var notifyActs *notify.Activities

// changeRecoverTellsGone: while a shard has no live primary, the recover
// tells the shard's instance managers which of its members are gone with
// their data, so that a former primary restarting in place (its Pod kept,
// so nothing set DAYOPS_GONE_REPLICAS on it) does not wait its whole
// --unreachable-timeout (60 s) for a replica whose Pod and volume were
// deleted (the shard takes no write meanwhile).
const changeRecoverTellsGone = "recover-tells-gone"

// tellGoneEvery is how often the notice is repeated while the shard has
// no live primary: a manager restarted since forgets it.
const tellGoneEvery = 10 * time.Second

// goneTeller tells a shard's managers of its members gone with their data.
type goneTeller struct {
	on   bool
	last time.Time
}

func newGoneTeller(ctx workflow.Context) *goneTeller {
	return &goneTeller{on: workflow.GetVersion(ctx, changeRecoverTellsGone, workflow.DefaultVersion, 1) != workflow.DefaultVersion}
}

// tell tells the managers of shard's members that are restarting in their
// Pods that its lost members without a volume are gone with their data (observed.GoneNotice), at most
// every tellGoneEvery. Best effort: a manager not told (restarting, no
// password) is told again next time; the fence's own timeout stays the
// bound.
func (g *goneTeller) tell(ctx workflow.Context, r *flow.Run, obs guardian.Observation, shard int) error {
	if !g.on || obs.Spec == nil || (!g.last.IsZero() && workflow.Now(ctx).Sub(g.last) < tellGoneEvery) {
		return nil
	}
	gone, targets := observed.GoneNotice(obs, shard)
	if len(gone) == 0 || len(targets) == 0 {
		return nil
	}
	g.last = workflow.Now(ctx)
	c := *obs.Spec
	var res notify.TellGoneResult
	return r.Exec(ctx, flow.QuickOptions, fmt.Sprintf("tell shard-%d's managers (ordinals %v) that %d member(s) are gone with their data", shard, targets, len(gone)),
		notifyActs.TellGoneMembers, notify.TellGoneInput{Namespace: c.Namespace, Cluster: c.Name, Auth: flow.AuthOf(c), Ordinals: targets, NodeIDs: gone}, &res)
}
