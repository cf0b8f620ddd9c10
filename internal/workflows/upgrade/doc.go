// Package upgrade holds the rolling upgrade workflow (canary, bake under the
// health gate, approval, batches, rollback), its bake child UpgradeBake, and
// the approve/abort/pause state: a small gate type whose transition
// function (next) is table-tested. Workflow contract: see package
// workflows.
package upgrade
