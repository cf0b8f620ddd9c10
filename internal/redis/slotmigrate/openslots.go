package slotmigrate

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/clusteradmin/stopped"
	"github.com/dayops/dayops/internal/redis/slotmigrate/leftopen"
	"github.com/dayops/dayops/internal/topology"
)

// CloseOpenSlotsInput selects the open slots to close.
type CloseOpenSlotsInput struct {
	Seeds []string
	// Slots limits the work to these slots (empty: every open slot).
	Slots topology.Ranges
	// Replaced maps the node ID of a lost primary to the node ID of the
	// primary that took its shard over (its promoted replica): a slot left
	// MIGRATING towards the lost node is finished towards its successor,
	// which holds the keys moved there. A node that is no replica of the
	// new primary (dead, or about to be forgotten) is known no other way.
	Replaced map[string]string
}

// CloseOpenSlotsResult says which way each slot was closed.
type CloseOpenSlotsResult struct {
	// Forward slots were finished towards the importing node.
	Forward topology.Ranges `json:"forward,omitempty"`
	// RolledBack slots were returned to their owner (SETSLOT STABLE).
	RolledBack topology.Ranges `json:"rolled_back,omitempty"`
}

// CloseOpenSlots closes slots left MIGRATING/IMPORTING (by this package or
// another tool, e.g. an interrupted redis-cli --cluster reshard) without
// losing keys. If the importing node holds any key of the slot (keys were
// moved, or clients were redirected there with ASK), the migration is
// finished towards it; otherwise the owner keeps the slot: the owner is made
// STABLE first (no more ASK redirections), the importing node is counted
// again, and only then made STABLE too.
func (a *Migrator) CloseOpenSlots(ctx context.Context, in CloseOpenSlotsInput) (CloseOpenSlotsResult, error) {
	var res CloseOpenSlotsResult
	m, views, err := a.primaryViews(ctx, in.Seeds)
	if err != nil {
		return res, fmt.Errorf("close open slots: %w", err)
	}
	for lost, succ := range in.Replaced {
		if _, live := views[lost]; !live && lost != succ {
			m.primaryOf[lost] = succ
		}
	}
	var forward []wave
	var rolled []int
	noMove := map[string][]int{} // importing node: slots whose import is no move
	for _, s := range leftopen.OpenIn(views) {
		if len(in.Slots) > 0 && !in.Slots.Contains(s) {
			continue
		}
		w, err := a.closeSlot(ctx, m, views, s, in.Replaced, noMove)
		if err != nil {
			return res, err
		}
		if w != nil {
			forward = append(forward, *w)
		} else {
			rolled = append(rolled, s)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(noMove)) {
		a.Logger().InfoContext(ctx, "importing states that are no move rolled back: the node holds old keys of slots another primary "+
			"owns (Redis sets such states at load time); the owners keep the slots and the node's copies stay unreachable",
			"node", m.addrs[id], "slots", topology.RangesOf(noMove[id]).String())
	}
	tr := newTracker(nil, nil, 0)
	for _, w := range forward {
		a.Logger().InfoContext(ctx, "finishing open slot towards the importing node", "slot", w.slots[0], "source", m.addrs[w.src], "target", m.addrs[w.tgt])
		err := a.retryWave(ctx, "close open slot", m, w, tr)
		if err != nil {
			return res, fmt.Errorf("close slot %d forward: %w", w.slots[0], err)
		}
		res.Forward = append(res.Forward, topology.SlotRange{Start: w.slots[0], End: w.slots[0]})
	}
	res.Forward = res.Forward.Normalize()
	res.RolledBack = topology.RangesOf(rolled)
	return res, nil
}

// closeSlot closes open slot s: it returns the wave that finishes it
// towards the importing node when that node holds keys of it, or nil once
// it rolled the slot back to its owner (owner STABLE first, then, if the
// importing node still holds no key, every other node). An import that is
// no move (leftopen.NoMove) is rolled back whatever the node holds.
func (a *Migrator) closeSlot(ctx context.Context, m *migration, views map[string]clusteradmin.ClusterView, s int, replaced map[string]string,
	noMove map[string][]int) (*wave, error) {
	owner := ""
	for id, v := range views {
		if v.Myself.Slots.Contains(s) {
			owner = id
		}
	}
	dest := ""
	if owner != "" {
		// Migrating towards a node that failed over since: its primary
		// took its keys of s over.
		dest = m.now(views[owner].Myself.Migrating[s])
	}
	if owner == "" {
		return nil, &clusteradmin.PlanConflictError{Slot: s, Reason: "open but owned by no live primary"}
	}
	migrated := dest != ""
	for id, v := range views {
		if _, ok := v.Myself.Importing[s]; !ok || id == owner || id == dest {
			continue
		}
		if leftopen.NoMove(views, s, owner, id, replaced) {
			// Unreachable copies: closed whichever way the slot goes.
			noMove[id] = append(noMove[id], s)
			if err := a.stable(ctx, m.addrs[id], s); err != nil {
				return nil, err
			}
			continue
		}
		if !migrated {
			dest = id
		}
	}
	holds := func() (bool, error) {
		if dest == "" {
			return false, nil
		}
		n, err := a.Client(m.addrs[dest]).ClusterCountKeysInSlot(ctx, s).Result()
		if err != nil {
			return false, fmt.Errorf("close slot %d: count keys on %s: %w", s, m.addrs[dest], err)
		}
		return n > 0, nil
	}
	if v, ok := views[dest]; ok {
		if from := v.Myself.Importing[s]; from != "" && from != owner && m.now(from) == owner {
			m.adopted[s] = true // importing from the owner's failed-over predecessor
		}
	}
	forward := &wave{src: owner, tgt: dest, slots: []int{s}}
	if has, err := holds(); err != nil || has {
		return forward, err
	}
	if err := a.stable(ctx, m.addrs[owner], s); err != nil {
		return nil, err
	}
	if has, err := holds(); err != nil || has { // a client was redirected there just before STABLE
		return forward, err
	}
	for id, v := range views {
		_, mig := v.Myself.Migrating[s]
		_, imp := v.Myself.Importing[s]
		closed := len(noMove[id]) > 0 && noMove[id][len(noMove[id])-1] == s
		if id != owner && (mig || imp) && !closed {
			if err := a.stable(ctx, m.addrs[id], s); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

func (a *Migrator) stable(ctx context.Context, addr string, slot int) error {
	err := a.Retry(ctx, "setslot stable", func(ctx context.Context) error {
		return a.Client(addr).Do(ctx, "cluster", "setslot", slot, "stable").Err()
	})
	if err != nil {
		return fmt.Errorf("setslot %d stable on %s: %w", slot, addr, err)
	}
	return nil
}

// primaryViews reads the seed's view and every live primary's own view.
func (a *Migrator) primaryViews(ctx context.Context, seeds []string) (*migration, map[string]clusteradmin.ClusterView, error) {
	var seed clusteradmin.ClusterView
	var err error
	// One attempt per seed first: a.View retries a dead seed for minutes.
	for _, s := range seeds {
		if seed, err = a.ViewOnce(ctx, s); err == nil {
			break
		}
	}
	for _, s := range seeds {
		if seed.Myself.ID != "" {
			break
		}
		seed, err = a.View(ctx, s)
	}
	if seed.Myself.ID == "" {
		return nil, nil, fmt.Errorf("no seed reachable: %w", err)
	}
	m := &migration{addrs: map[string]string{}, primaryOf: map[string]string{}, adopted: map[int]bool{}}
	views := map[string]clusteradmin.ClusterView{}
	for id, n := range seed.Nodes {
		m.addrs[id] = n.Addr
		if n.Has("fail") || n.Has("noaddr") || n.Has("handshake") || stopped.Slotless(ctx, a.Admin, seed, id) {
			continue
		}
		m.live = append(m.live, id)
		if n.IsPrimary() {
			m.primaries = append(m.primaries, id)
		} else if n.PrimaryID != "" {
			m.primaryOf[id] = n.PrimaryID
		}
	}
	slices.Sort(m.primaries)
	slices.Sort(m.live)
	for _, id := range m.primaries {
		if views[id], err = a.View(ctx, m.addrs[id]); clusteradmin.IsAuthError(err) { // fenced, restarting: serves again soon
			return nil, nil, clusteradmin.Transient(fmt.Sprintf("%v (fenced: restarting)", err))
		} else if err != nil {
			return nil, nil, err
		}
	}
	m.learnRoles(views)
	for _, id := range m.primaries {
		v := views[id]
		if changed, err := a.RepairImports(ctx, m.addrs[id], &v, m.now); err != nil {
			return nil, nil, err
		} else if changed {
			if views[id], err = a.View(ctx, m.addrs[id]); err != nil {
				return nil, nil, err
			}
		}
	}
	return m, views, nil
}
