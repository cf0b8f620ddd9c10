package topology

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// NumSlots is the number of hash slots of a Redis Cluster.
const NumSlots = 16384

// SlotRange is an inclusive range of hash slots [Start, End].
type SlotRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Len is the number of slots in r (0 for an inverted range).
func (r SlotRange) Len() int {
	if r.End < r.Start {
		return 0
	}
	return r.End - r.Start + 1
}

// Contains reports whether slot lies in r.
func (r SlotRange) Contains(slot int) bool { return slot >= r.Start && slot <= r.End }

// Valid reports whether r is a non-empty range inside [0, NumSlots).
func (r SlotRange) Valid() bool { return r.Start >= 0 && r.End < NumSlots && r.Start <= r.End }

func (r SlotRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// Ranges is a list of slot ranges. Normalized ranges are sorted, disjoint and
// not adjacent (adjacent ranges are merged).
type Ranges []SlotRange

// Count is the number of slots in rs, counting overlaps twice.
func (rs Ranges) Count() int {
	n := 0
	for _, r := range rs {
		n += r.Len()
	}
	return n
}

// Contains reports whether any range of rs contains slot.
func (rs Ranges) Contains(slot int) bool {
	for _, r := range rs {
		if r.Contains(slot) {
			return true
		}
	}
	return false
}

// Slots lists every slot of rs in ascending order, each once.
func (rs Ranges) Slots() []int {
	n := rs.Normalize()
	out := make([]int, 0, n.Count())
	for _, r := range n {
		for s := r.Start; s <= r.End; s++ {
			out = append(out, s)
		}
	}
	return out
}

// Normalize returns rs sorted, with overlapping and adjacent ranges merged and
// empty ranges dropped. rs is not modified.
func (rs Ranges) Normalize() Ranges {
	c := make(Ranges, 0, len(rs))
	for _, r := range rs {
		if r.Len() > 0 {
			c = append(c, r)
		}
	}
	slices.SortFunc(c, func(a, b SlotRange) int { return a.Start - b.Start })
	out := make(Ranges, 0, len(c))
	for _, r := range c {
		if n := len(out); n > 0 && r.Start <= out[n-1].End+1 {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// String renders rs as "0-5460,5462".
func (rs Ranges) String() string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// RangesOf builds normalized ranges from a list of slots in any order.
func RangesOf(slots []int) Ranges {
	rs := make(Ranges, len(slots))
	for i, s := range slots {
		rs[i] = SlotRange{Start: s, End: s}
	}
	return rs.Normalize()
}

// ParseRanges parses "0-5460,5461,5462-10922" (the form String writes and
// CLUSTER NODES uses, with spaces or commas between ranges).
func ParseRanges(s string) (Ranges, error) {
	var out Ranges
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		lo, hi, found := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("parse slot range %q: %w", f, err)
		}
		b := a
		if found {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("parse slot range %q: %w", f, err)
			}
		}
		r := SlotRange{Start: a, End: b}
		if !r.Valid() {
			return nil, fmt.Errorf("parse slot range %q: out of [0,%d) or inverted", f, NumSlots)
		}
		out = append(out, r)
	}
	return out, nil
}

// EvenSplit divides all slots into n contiguous ranges whose sizes differ by
// at most one (the layout of a freshly created cluster).
func EvenSplit(n int) []SlotRange {
	if n <= 0 {
		return nil
	}
	out := make([]SlotRange, n)
	start := 0
	for i := range n {
		size := NumSlots / n
		if i < NumSlots%n {
			size++
		}
		out[i] = SlotRange{Start: start, End: start + size - 1}
		start += size
	}
	return out
}
