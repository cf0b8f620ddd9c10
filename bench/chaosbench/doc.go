// Package chaosbench injects the failures dayops must repair on its own
// (issue 13) into a live cluster on the local stack, with a client writing
// throughout, and measures each one: seconds from the fault to Redis
// promoting a replica, from that promotion to the shard's primary Service
// selecting it, and to full redundancy (the guardian sees every instance
// ready); acknowledged writes lost; the longest time no write was
// acknowledged; keys lost. It also measures what guarding costs (worker CPU,
// Redis commands per guarded instance per minute).
//
// The same scenarios serve two callers: tests/e2e (TestSelfHealing,
// TestFenceEmptyPrimary), which asserts on the figures (no acknowledged
// write lost, every instance back), and `dayops-dev bench chaos` (Run),
// which starts its own API and worker against the stack and prints them.
// Nothing here asserts a timing.
//
// The faults are real: Pods force-deleted through the apiserver, PVCs
// deleted, Nodes cordoned, the worker process SIGKILLed, and redis-server
// SIGKILLed by its pod IP on this host (the local stack's node agent runs
// each Pod as a local process, so that fault exists only there).
package chaosbench
