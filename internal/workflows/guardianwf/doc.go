// Package guardianwf holds the guardian: one long-running workflow per
// cluster that watches it, records failovers, losses and fences, and starts
// the self-healing operations of package selfheal (recover for lost
// instances and slots left open, switchover away from a primary that
// refuses writes). Workflow contract: see package workflows.
package guardianwf
