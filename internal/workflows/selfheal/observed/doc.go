// Package observed reads a guardian observation for the recover workflow
// (package selfheal): pure functions of what the guardian saw, such as the
// shards Redis cannot elect in, the replica furthest ahead, the members
// restarting in their Pods, the lost instances that come back on their
// volumes, the replicas too old to elect. They are table-tested here,
// apart from the workflow code that acts on them.
package observed
