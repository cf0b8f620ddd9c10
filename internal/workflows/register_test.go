package workflows

import (
	"testing"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/backup"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/notify"
	"github.com/dayops/dayops/internal/activities/redisops"
	"go.temporal.io/sdk/testsuite"
)

// TestRegisterEverything fails (panics) if two activities share a name:
// every activity struct, backup and guardian included, is registered.
func TestRegisterEverything(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	Register(env, Activities{
		Kube: &kube.Activities{}, Redis: &redisops.Activities{}, Hooks: &hooks.Activities{},
		Audit: &auditlog.Activities{}, State: &clusterstate.Activities{}, Guardian: &guardian.Activities{},
		Backup: &backup.Activities{}, Notify: &notify.Activities{},
	})
}
