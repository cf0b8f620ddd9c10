package slotmigrate

import "github.com/dayops/dayops/internal/redis/slotmigrate/progress"

// Progress of a slot migration (see progress.Progress).
type Progress = progress.Progress

type tracker = progress.Tracker

var newTracker = progress.NewTracker
