// Package topology is the pure model of a Redis Cluster deployment and the
// arithmetic of its 16384 hash slots: instances, shards, roles, zones,
// ordinals, slot ranges, slot layouts and the plans that change them.
//
// Contract:
//   - Pure and deterministic: no I/O, no clock, no randomness, no SDK or
//     client import. The same input always yields the same plan, so a plan can
//     be computed inside a Temporal workflow, shown as a dry run, and recorded.
//   - Plans are minimal: Rebalance moves exactly the number of slots by which
//     owners exceed their weighted target (no slot moves twice, no slot moves
//     between two nodes that are both already at target) and keeps the ranges
//     it moves contiguous where it can.
//   - Drain spreads a departing node's slots over the remaining primaries in
//     proportion to their free memory, never all to one when several can take
//     slots.
//   - Validate reports every problem at once (uncovered slots, overlaps, slots
//     owned by a leaving node), and Apply(layout, plan) of any plan returned
//     here to the layout it was computed from yields a valid layout.
package topology
