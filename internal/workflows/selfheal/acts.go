package selfheal

import (
	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
)

// Activity references: method values on nil pointers name the activities.
var (
	kubeActs  *kube.Activities
	redisActs *redisops.Activities
	stateActs *clusterstate.Activities
	auditActs *auditlog.Activities
)
