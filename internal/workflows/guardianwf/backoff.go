package guardianwf

import (
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/redis/slotmigrate/leftopen"
)

// changeRecoverBackoff marks guardian runs that back off exponentially
// from a recover that keeps failing for the same losses (recoverBackoff);
// runs before it waited 15 s after every recover they started.
const changeRecoverBackoff = "guardian-recover-backoff"

// changeHealthyEndsWait marks guardian runs in which the cluster seen
// healthy again ends the wait after a recover: the wait is there for a loss
// that a recover did not repair, and a new loss seconds after a repaired one
// (a node drain's next Pod, a shard's Pods deleted after a primary's) waited
// out the rest of the 15 s before its recover started (chaos shard-lost
// after delete-primary: recover 8.9 s after the fault, full redundancy 20.6 s).
const changeHealthyEndsWait = "guardian-healthy-ends-recover-wait"

// The guardian's wait after starting a recover: recoverBackoffFirst after
// the first for a set of losses, doubling with each further one for the
// same set, at most recoverBackoffMax. A loss that cannot be repaired (a
// shard whose data is gone, a slot whose close keeps failing) then costs a
// failed recover every 10 minutes at the most, not every 30 s all night;
// a new loss starts over at 15 s, and the cluster seen healthy again ends the
// wait (changeHealthyEndsWait).
const (
	recoverBackoffFirst = 15 * time.Second
	recoverBackoffMax   = 10 * time.Minute
)

// recoverBackoff is the wait after the n-th recover (n >= 1) started for
// the same losses: 15 s, 30 s, 1 min, 2 min, 4 min, 8 min, then 10 min.
func recoverBackoff(n int) time.Duration {
	d := recoverBackoffFirst
	for i := 1; i < n && d < recoverBackoffMax; i++ {
		d *= 2
	}
	return min(d, recoverBackoffMax)
}

// recoverKey names what a recover is started for: the lost ordinals and the
// slots found left open.
func recoverKey(as guard.Assessment, open []leftopen.Slot) string {
	ords := make([]int, 0, len(as.Lost))
	for _, l := range as.Lost {
		ords = append(ords, l.Ordinal)
	}
	return fmt.Sprintf("lost %v; open: %s", ords, leftopen.Describe(open))
}

// backOff records that a recover was started at now for key and sets when
// the next may start.
func (in *GuardianInput) backOff(key string, now time.Time) {
	if key != in.RecoverFor {
		in.RecoverAttempts, in.RecoverFor = 0, key
	}
	in.RecoverAttempts++
	in.RecoverNotBefore = now.Add(recoverBackoff(in.RecoverAttempts))
}
