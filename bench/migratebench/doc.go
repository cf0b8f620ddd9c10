// Package migratebench compares dayops' slot migration with
// redis-cli --cluster rebalance on the same data, on the same machine, in one
// run, while a client writes and records every acknowledged write. It prints
// figures; it never asserts timings. `dayops-dev bench migrate` runs it.
package migratebench
