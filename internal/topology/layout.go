package topology

import (
	"fmt"
	"maps"
	"slices"
)

// Layout maps each primary's node ID to the slots it owns. A primary that
// owns no slot may be present with no ranges (a new, empty shard).
type Layout map[string]Ranges

// Nodes returns the node IDs of l, sorted.
func (l Layout) Nodes() []string { return slices.Sorted(maps.Keys(l)) }

// Owner returns the node that owns slot, or "" when none does.
func (l Layout) Owner(slot int) string {
	for _, n := range l.Nodes() {
		if l[n].Contains(slot) {
			return n
		}
	}
	return ""
}

// Counts returns the number of slots each node owns.
func (l Layout) Counts() map[string]int {
	out := make(map[string]int, len(l))
	for n, rs := range l {
		out[n] = rs.Normalize().Count()
	}
	return out
}

// Clone returns a deep copy of l.
func (l Layout) Clone() Layout {
	out := make(Layout, len(l))
	for n, rs := range l {
		out[n] = slices.Clone(rs)
	}
	return out
}

// Validate reports every problem at once: slots out of range, slots owned
// twice, slots not covered, and slots owned by a node in leaving.
func (l Layout) Validate(leaving ...string) error {
	var problems []string
	owner := make([]string, NumSlots)
	for _, n := range l.Nodes() {
		for _, r := range l[n] {
			if !r.Valid() {
				problems = append(problems, fmt.Sprintf("node %s: invalid range %d-%d", n, r.Start, r.End))
				continue
			}
			for s := r.Start; s <= r.End; s++ {
				if owner[s] != "" && owner[s] != n {
					problems = append(problems, fmt.Sprintf("slot %d owned by %s and %s", s, owner[s], n))
				} else if owner[s] == n {
					problems = append(problems, fmt.Sprintf("slot %d listed twice for %s", s, n))
				}
				owner[s] = n
			}
		}
	}
	var missing []int
	for s, o := range owner {
		if o == "" {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d slots not covered: %s", len(missing), RangesOf(missing)))
	}
	for _, n := range leaving {
		if c := l[n].Count(); c > 0 {
			problems = append(problems, fmt.Sprintf("leaving node %s still owns %d slots", n, c))
		}
	}
	if len(problems) > 0 {
		return &InvalidError{Problems: problems}
	}
	return nil
}

// Apply returns the layout after every move of p. Each move must take slots
// from the node that owns them in the layout as it stands when the move is
// applied; the input layout is not modified.
func Apply(l Layout, p Plan) (Layout, error) {
	out := l.Clone()
	for _, m := range p.Moves {
		if !m.Range.Valid() {
			return nil, fmt.Errorf("apply move %s: invalid range", m)
		}
		own := out[m.From].Normalize()
		for s := m.Range.Start; s <= m.Range.End; s++ {
			if !own.Contains(s) {
				return nil, fmt.Errorf("apply move %s: slot %d is not owned by %s", m, s, m.From)
			}
		}
		out[m.From] = subtract(own, m.Range)
		out[m.To] = append(out[m.To], m.Range).Normalize()
	}
	return out, nil
}

// subtract removes r from normalized rs.
func subtract(rs Ranges, r SlotRange) Ranges {
	var out Ranges
	for _, x := range rs {
		if x.End < r.Start || x.Start > r.End {
			out = append(out, x)
			continue
		}
		if x.Start < r.Start {
			out = append(out, SlotRange{Start: x.Start, End: r.Start - 1})
		}
		if x.End > r.End {
			out = append(out, SlotRange{Start: r.End + 1, End: x.End})
		}
	}
	return out
}
