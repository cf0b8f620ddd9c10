package migratebench

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// dueClock waits for the probe's due times in nanosleep(2) on an OS thread
// of its own, with a timer slack of 1 ns.
//
// The Go runtime's timers are as exact as its idle threads let them be:
// with nothing else to run, a thread waits in epoll_pwait, whose timeout is
// in milliseconds, so a timer under a millisecond fires up to one late. On
// one host (2026-12-04) time.Sleep(100 µs) took 1.08 ms and the probe's
// 200 µs ticker put its idle p50 at 0.67 ms for an 80 µs round trip: the
// probe's own lateness, counted as the server's (a request's latency runs
// from its due time). nanosleep on the same host: 176 µs for 100 µs with
// the default 50 µs slack.
type dueClock struct{}

// newDueClock locks the calling goroutine to its thread for the rest of its
// life (the thread ends with it, taking its timer slack along).
func newDueClock() dueClock {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	return dueClock{}
}

// sleepUntil returns at t or soon after (at once when t has passed).
func (dueClock) sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	ts := unix.NsecToTimespec(d.Nanoseconds())
	// The runtime's preemption signals interrupt the sleep; go on with
	// what is left.
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
