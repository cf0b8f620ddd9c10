package workflows

import (
	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/backup"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/notify"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/workflows/backups"
	"github.com/dayops/dayops/internal/workflows/guardianwf"
	"github.com/dayops/dayops/internal/workflows/lifecycle"
	"github.com/dayops/dayops/internal/workflows/selfheal"
	"github.com/dayops/dayops/internal/workflows/upgrade"
)

// Activities bundles the activity structs a worker serves.
type Activities struct {
	Kube  *kube.Activities
	Redis *redisops.Activities
	Hooks *hooks.Activities
	Audit *auditlog.Activities
	State *clusterstate.Activities
	// Backup is the backup and restore activities (see package backups).
	Backup *backup.Activities
	// Guardian is the guardian's and the self-healing operations' activities.
	Guardian *guardian.Activities
	// Notify tells instance managers what the recover knows (members gone
	// with their data).
	Notify *notify.Activities
}

// Registry is what workers and test environments offer for registration.
type Registry interface {
	RegisterWorkflow(w any)
	RegisterActivity(a any)
}

// Register registers every workflow and activity of dayops. Workflow types
// are named after their functions (the package does not matter) and
// activity names are the method names, so they must be unique across the
// structs: a clash panics here (a test registers everything to catch it).
func Register(r Registry, a Activities) {
	for _, w := range []any{lifecycle.CreateCluster, lifecycle.ScaleShards, lifecycle.ScaleReplicas, lifecycle.DeleteCluster,
		upgrade.Upgrade, upgrade.UpgradeBake} {
		r.RegisterWorkflow(w)
	}
	for _, act := range []any{a.Kube, a.Redis, a.Hooks, a.Audit, a.State} {
		r.RegisterActivity(act)
	}
	for _, w := range []any{backups.Backup, backups.Restore, backups.DeleteBackup, backups.ScheduledBackup} {
		r.RegisterWorkflow(w)
	}
	if a.Backup != nil {
		r.RegisterActivity(a.Backup)
	}
	for _, w := range []any{guardianwf.Guardian, selfheal.Recover, selfheal.Switchover} {
		r.RegisterWorkflow(w)
	}
	if a.Guardian != nil {
		r.RegisterActivity(a.Guardian)
	}
	if a.Notify != nil {
		r.RegisterActivity(a.Notify)
	}
}
