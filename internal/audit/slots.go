package audit

import "sort"

// normalize sorts ranges and merges overlapping or adjacent ones.
func normalize(rs []SlotRange) []SlotRange {
	if len(rs) == 0 {
		return nil
	}
	c := make([]SlotRange, 0, len(rs))
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
func addSlots(a, b []SlotRange) []SlotRange {
	a, b = normalizedOrCopy(a), normalizedOrCopy(b)
	out := make([]SlotRange, 0, len(a)+len(b))
	push := func(r SlotRange) {
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
func removeSlots(a, b []SlotRange) []SlotRange {
	a = normalizedOrCopy(a)
	b = normalizedOrCopy(b)
	if !overlaps(a, b) {
		return a
	}
	var out []SlotRange
	j := 0
	for _, r := range a {
		start := r.Start
		for j < len(b) && b[j].End < start {
			j++
		}
		k := j
		for k < len(b) && b[k].Start <= r.End {
			if b[k].Start > start {
				out = append(out, SlotRange{start, b[k].Start - 1})
			}
			start = max(start, b[k].End+1)
			k++
		}
		if start <= r.End {
			out = append(out, SlotRange{start, r.End})
		}
	}
	return out
}

// overlaps reports whether two normalized lists share a slot.
func overlaps(a, b []SlotRange) bool {
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
func normalizedOrCopy(rs []SlotRange) []SlotRange {
	for i, r := range rs {
		if r.End < r.Start || i > 0 && r.Start <= rs[i-1].End+1 {
			return normalize(append([]SlotRange(nil), rs...))
		}
	}
	if len(rs) == 0 {
		return nil
	}
	return rs
}

// countSlots is the number of slots in normalized ranges.
func countSlots(rs []SlotRange) int {
	n := 0
	for _, r := range rs {
		n += r.End - r.Start + 1
	}
	return n
}
