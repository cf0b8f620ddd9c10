package projection

import (
	"sort"

	"github.com/dayops/dayops/internal/audit"
)

// normalize sorts ranges and merges overlapping or adjacent ones.
func normalize(rs []audit.SlotRange) []audit.SlotRange {
	if len(rs) == 0 {
		return nil
	}
	c := make([]audit.SlotRange, 0, len(rs))
	for _, r := range rs {
		if r.End >= r.Start {
			c = append(c, r)
		}
	}
	sort.Slice(c, func(i, j int) bool { return c[i].Start < c[j].Start })
	out := c[:0]
	for _, r := range c {
		if n := len(out); n > 0 && r.Start <= out[n-1].End+1 {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// addSlots is the union of a and b, by a linear merge of the two sorted
// lists (a shard's list can hold hundreds of ranges after many migrations).
func addSlots(a, b []audit.SlotRange) []audit.SlotRange {
	a, b = normalizedOrCopy(a), normalizedOrCopy(b)
	out := make([]audit.SlotRange, 0, len(a)+len(b))
	push := func(r audit.SlotRange) {
		if n := len(out); n > 0 && r.Start <= out[n-1].End+1 {
			out[n-1].End = max(out[n-1].End, r.End)
			return
		}
		out = append(out, r)
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || i < len(a) && a[i].Start <= b[j].Start {
			push(a[i])
			i++
		} else {
			push(b[j])
			j++
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// removeSlots is a minus b. It returns a itself (no copy) when nothing
// overlaps, which is the common case when slots are taken from every shard.
func removeSlots(a, b []audit.SlotRange) []audit.SlotRange {
	a = normalizedOrCopy(a)
	b = normalizedOrCopy(b)
	if !overlaps(a, b) {
		return a
	}
	var out []audit.SlotRange
	j := 0
	for _, r := range a {
		start := r.Start
		for j < len(b) && b[j].End < start {
			j++
		}
		k := j
		for k < len(b) && b[k].Start <= r.End {
			if b[k].Start > start {
				out = append(out, audit.SlotRange{Start: start, End: b[k].Start - 1})
			}
			start = max(start, b[k].End+1)
			k++
		}
		if start <= r.End {
			out = append(out, audit.SlotRange{Start: start, End: r.End})
		}
	}
	return out
}

// overlaps reports whether two normalized lists share a slot.
func overlaps(a, b []audit.SlotRange) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].End < b[j].Start:
			i++
		case b[j].End < a[i].Start:
			j++
		default:
			return true
		}
	}
	return false
}

// normalizedOrCopy returns rs if it is already sorted, disjoint and
// non-adjacent, else a normalized copy.
func normalizedOrCopy(rs []audit.SlotRange) []audit.SlotRange {
	for i, r := range rs {
		if r.End < r.Start || i > 0 && r.Start <= rs[i-1].End+1 {
			return normalize(append([]audit.SlotRange(nil), rs...))
		}
	}
	if len(rs) == 0 {
		return nil
	}
	return rs
}
