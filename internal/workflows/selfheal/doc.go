// Package selfheal holds the guardian (one long-running workflow per cluster
// that watches it and records failovers, losses and fences) and the
// self-healing operations it or a user starts: recover (replace lost
// instances) and switchover (a graceful CLUSTER FAILOVER). Workflow
// contract: see package workflows.
package selfheal
