package workflows

import (
	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/backup"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
)

// Activity references for the tests' mocks: method values on nil pointers
// name the activities, as in the workflow packages.
var (
	kubeActs     *kube.Activities
	redisActs    *redisops.Activities
	hookActs     *hooks.Activities
	auditActs    *auditlog.Activities
	stateActs    *clusterstate.Activities
	backupActs   *backup.Activities
	guardianActs *guardian.Activities
)
