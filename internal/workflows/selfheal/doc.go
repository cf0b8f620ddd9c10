// Package selfheal holds the self-healing operations the guardian (package
// guardianwf) or a user starts: recover (replace lost instances, close
// slots left open) and switchover (a graceful CLUSTER FAILOVER). Workflow
// contract: see package workflows.
package selfheal
