// Package handoff is what a fenced former primary hands to the primary that
// replaced it, where Redis does not: its slot moves in flight (OpenSlots)
// and its place, as that primary's replica (StepDown). The instance manager
// calls both while the node is fenced: no client and no replica reaches it.
//
// # OpenSlots
//
// MIGRATING and IMPORTING are a node's own and do not pass to its replica:
// without a hand-over the new primary serves a slot the old one was
// migrating as if none of its keys had moved (a read of a moved key finds
// nothing, a write makes a second copy), and the other end keeps pointing at
// the old node: a target importing from it drops the slot's owner once it
// hears that node is a replica (Redis skips a newer claim of a slot it
// imports) and answers CLUSTERDOWN to every key; a source migrating to it
// sends clients (ASK) to a replica.
//
// # StepDown
//
// Redis demotes a restarted former primary when the promoted replica's newer
// claim of its slots reaches it over the cluster bus, but not always: a node
// left with slots or keys Redis' rules do not cover (the new primary claims
// more slots than the old one had and cluster-allow-replica-migration is
// off; slots Redis set importing at load time because it holds keys of a
// slot another node owns) stays a primary with stale data for ever, and
// CLUSTER REPLICATE refuses a node that has keys or slots. Every key
// StepDown discards belongs to a slot another primary owns now (the copy
// Redis' own demotion would have replaced by a full resync); a slot with
// keys, or claimed, that no other primary owns stops it. StepDownStray is
// the same for a node found later, unfenced, as a primary owning no slot
// with old keys (the worker's recover calls it: guard.Lost.Rejoin).
package handoff
