// Package tick runs a function on a ticker: the loop the migration pacer's
// probes, the worker's heartbeat keepalive and long activity calls share.
package tick

import (
	"context"
	"time"
)

// Every calls f with the tick's time every d until ctx is done or f returns
// false. It returns when it stops; f never runs after that.
func Every(ctx context.Context, d time.Duration, f func(now time.Time) bool) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if !f(now) {
				return
			}
		}
	}
}

// Go runs Every in a goroutine; stop ends it and waits until it has
// returned, so f never runs once stop has returned.
func Go(ctx context.Context, d time.Duration, f func(now time.Time) bool) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, d, f)
	}()
	return func() {
		cancel()
		<-done
	}
}
