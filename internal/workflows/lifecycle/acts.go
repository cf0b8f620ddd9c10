package lifecycle

import (
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
)

// Activity references: method values on nil pointers name the activities.
var (
	kubeActs  *kube.Activities
	redisActs *redisops.Activities
)
