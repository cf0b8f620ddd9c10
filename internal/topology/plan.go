package topology

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Move is one contiguous slot range that changes owner.
type Move struct {
	From  string    `json:"from"`
	To    string    `json:"to"`
	Range SlotRange `json:"range"`
}

func (m Move) String() string { return fmt.Sprintf("%s %s->%s", m.Range, short(m.From), short(m.To)) }

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// Plan is an ordered list of moves. Moves never overlap.
type Plan struct {
	Moves []Move `json:"moves"`
}

// Slots is the number of slots the plan moves.
func (p Plan) Slots() int {
	n := 0
	for _, m := range p.Moves {
		n += m.Range.Len()
	}
	return n
}

// Targets returns the count of slots each node should own when slots are
// shared in proportion to weights (largest remainder, ties broken by node ID).
// A node with weight 0 gets no slot. Weights must be finite and >= 0 with a
// positive sum.
func Targets(weights map[string]float64) (map[string]int, error) {
	return apportion(NumSlots, weights)
}

func apportion(total int, weights map[string]float64) (map[string]int, error) {
	nodes := slices.Sorted(maps.Keys(weights))
	sum := 0.0
	for _, n := range nodes {
		w := weights[n]
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("weight of %s is %v: %w", n, w, ErrBadWeights)
		}
		sum += w
	}
	if sum <= 0 {
		return nil, fmt.Errorf("weights sum to %v: %w", sum, ErrBadWeights)
	}
	out := make(map[string]int, len(nodes))
	type rem struct {
		node string
		frac float64
	}
	rems := make([]rem, 0, len(nodes))
	given := 0
	for _, n := range nodes {
		exact := float64(total) * weights[n] / sum
		whole := int(math.Floor(exact))
		out[n] = whole
		given += whole
		rems = append(rems, rem{n, exact - float64(whole)})
	}
	slices.SortStableFunc(rems, func(a, b rem) int {
		switch {
		case a.frac > b.frac:
			return -1
		case a.frac < b.frac:
			return 1
		}
		return 0
	})
	for i := 0; given < total; i++ {
		if weights[rems[i%len(rems)].node] == 0 {
			continue
		}
		out[rems[i%len(rems)].node]++
		given++
	}
	return out, nil
}

// ErrBadWeights is returned for negative, non-finite or all-zero weights.
var ErrBadWeights = errors.New("bad weights")

// Rebalance plans the minimal moves that bring every node of l to its
// weighted share of the slots. weights may be nil (all nodes weigh 1); a node
// in l missing from a non-nil weights map weighs 1; a node present only in
// weights joins with no slots. The layout must be valid.
//
// Donors give away their highest slots first so what they keep stays
// contiguous; receivers are filled in node-ID order with contiguous runs of the
// donated slots.
func Rebalance(l Layout, weights map[string]float64) (Plan, error) {
	if err := l.Validate(); err != nil {
		return Plan{}, fmt.Errorf("rebalance: %w", err)
	}
	w := make(map[string]float64, len(l))
	for n := range l {
		w[n] = 1
	}
	for n, x := range weights {
		w[n] = x
	}
	targets, err := Targets(w)
	if err != nil {
		return Plan{}, fmt.Errorf("rebalance: %w", err)
	}
	counts := l.Counts()
	type give struct {
		node  string
		slots []int // descending
	}
	var donors []give
	for _, n := range slices.Sorted(maps.Keys(w)) {
		excess := counts[n] - targets[n]
		if excess <= 0 {
			continue
		}
		all := l[n].Slots()
		taken := all[len(all)-excess:]
		slices.Sort(taken)
		donors = append(donors, give{n, taken})
	}
	var p Plan
	di := 0
	for _, n := range slices.Sorted(maps.Keys(w)) {
		need := targets[n] - counts[n]
		for need > 0 {
			d := &donors[di]
			k := min(need, len(d.slots))
			for _, r := range RangesOf(d.slots[:k]) {
				p.Moves = append(p.Moves, Move{From: d.node, To: n, Range: r})
			}
			d.slots = d.slots[k:]
			need -= k
			if len(d.slots) == 0 {
				di++
			}
		}
	}
	return p, nil
}

// Drain plans the moves that empty every node in leaving, spreading their
// slots over the remaining nodes of l in proportion to freeMemory (bytes). A
// remaining node with no entry or a non-positive value takes nothing, unless
// no remaining node reports free memory, in which case all share equally.
// Runs of slots stay contiguous per receiver.
func Drain(l Layout, leaving []string, freeMemory map[string]int64) (Plan, error) {
	if err := l.Validate(); err != nil {
		return Plan{}, fmt.Errorf("drain: %w", err)
	}
	isLeaving := map[string]bool{}
	for _, n := range leaving {
		if _, ok := l[n]; !ok {
			return Plan{}, fmt.Errorf("drain: leaving node %s is not in the layout", n)
		}
		isLeaving[n] = true
	}
	w := map[string]float64{}
	anyFree := false
	for _, n := range l.Nodes() {
		if isLeaving[n] {
			continue
		}
		w[n] = 0
		if f := freeMemory[n]; f > 0 {
			w[n] = float64(f)
			anyFree = true
		}
	}
	if len(w) == 0 {
		return Plan{}, errors.New("drain: no node would remain")
	}
	if !anyFree {
		for n := range w {
			w[n] = 1
		}
	}
	type owned struct {
		node string
		slot int
	}
	var moving []owned
	for _, n := range slices.Sorted(maps.Keys(isLeaving)) {
		for _, s := range l[n].Slots() {
			moving = append(moving, owned{n, s})
		}
	}
	if len(moving) == 0 {
		return Plan{}, nil
	}
	quota, err := apportion(len(moving), w)
	if err != nil {
		return Plan{}, fmt.Errorf("drain: %w", err)
	}
	var p Plan
	i := 0
	for _, to := range slices.Sorted(maps.Keys(w)) {
		chunk := moving[i : i+quota[to]]
		i += quota[to]
		for len(chunk) > 0 {
			j := 0
			for j < len(chunk) && chunk[j].node == chunk[0].node {
				j++
			}
			slots := make([]int, j)
			for k := range j {
				slots[k] = chunk[k].slot
			}
			for _, r := range RangesOf(slots) {
				p.Moves = append(p.Moves, Move{From: chunk[0].node, To: to, Range: r})
			}
			chunk = chunk[j:]
		}
	}
	return p, nil
}
