package clusteradmin

import (
	"context"
	"fmt"
	"slices"
)

// OrphanedImports lists the slots v's node imports but sees owned by no
// live primary.
//
// A node importing a slot ignores every newer claim of it (Redis skips
// importing slots when it takes a claim), and drops the slot's owner when
// that owner turns replica: after a failover of a migration's source (Redis'
// own, CLUSTER FAILOVER, or the instance manager's takeover) the target sees
// the slot unowned, or owned by a failed node, for good. With
// cluster-require-full-coverage it reports cluster_state:fail and answers
// CLUSTERDOWN to every command with a key, the RESTOREs and MIGRATEs of the
// move too: the whole shard is down and the move can never finish the slot.
func OrphanedImports(v ClusterView) []int {
	var out []int
	for s := range v.Myself.Importing {
		if o, ok := v.Nodes[v.Owner(s)]; !ok || o.Has("fail") || !o.IsPrimary() {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// RepairImports gives the node at addr each orphaned import's owner back:
// CLUSTER SETSLOT <slot> NODE <claimant> (which keeps the import open), the
// claimant being the live primary that owns the slot in its own view; now
// names the node first asked for a slot imported from a given node (its
// primary today, as far as the caller knows). The move of the slot then
// finds it owned by the source's new primary (internal/redis/slotmigrate
// adopts it). v is addr's view; nil reads it. It returns whether it changed
// anything.
func (a *Admin) RepairImports(ctx context.Context, addr string, v *ClusterView, now func(id string) string) (bool, error) {
	if v == nil {
		fresh, err := a.view(ctx, addr)
		if err != nil {
			return false, err
		}
		v = &fresh
	}
	changed := false
	views := map[string]*ClusterView{} // candidates' own views, read once per call (nil: no answer)
	for _, s := range OrphanedImports(*v) {
		owner := a.claimant(ctx, *v, s, now, views)
		if owner == "" {
			continue // no primary claims it (yet): a later attempt looks again
		}
		a.Logger().WarnContext(ctx, "a slot this node imports has no live owner in its view (its source failed over): "+
			"setting the owner to the primary that claims it, so that the node serves again and the move continues",
			"node", addr, "slot", s, "importing_from", v.Myself.Importing[s], "owner", owner)
		if err := a.client(addr).Do(ctx, "cluster", "setslot", s, "node", owner).Err(); err != nil {
			return changed, fmt.Errorf("setslot %d node %s on %s: %w", s, owner, addr, err)
		}
		changed = true
	}
	return changed, nil
}

// claimant returns the live primary that owns slot s in its own view,
// asking first the node the slot is imported from and its primary today,
// then every other primary of v; "" if none does. A node that does not
// answer is skipped (no retry: the import's source may be the node that
// died). views keeps each candidate's view for the other slots (a wave's
// worth of slots is orphaned at once).
func (a *Admin) claimant(ctx context.Context, v ClusterView, s int, now func(string) string, views map[string]*ClusterView) string {
	from := v.Myself.Importing[s]
	candidates := []string{now(from), from}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id, n := range v.Nodes {
			if n.IsPrimary() && !n.Has("fail") && id != v.Myself.ID && !yield(id) {
				return
			}
		}
	}) {
		candidates = append(candidates, id)
	}
	for _, id := range candidates {
		addr := v.Nodes[id].Addr
		if addr == "" {
			continue
		}
		cv, ok := views[id]
		if !ok {
			if parsed, err := a.ViewOnce(ctx, addr); err == nil {
				cv = &parsed
			}
			views[id] = cv
		}
		if cv != nil && cv.Myself.IsPrimary() && cv.Myself.Slots.Contains(s) {
			return id
		}
	}
	return ""
}
