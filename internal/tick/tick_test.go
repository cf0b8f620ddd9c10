package tick

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestEveryStopsWhenFReturnsFalse(t *testing.T) {
	n := 0
	Every(context.Background(), time.Millisecond, func(time.Time) bool {
		n++
		return n < 3
	})
	if n != 3 {
		t.Fatalf("f ran %d times, want 3", n)
	}
}

func TestGoStopWaits(t *testing.T) {
	var n atomic.Int32
	stop := Go(context.Background(), time.Millisecond, func(time.Time) bool {
		n.Add(1)
		return true
	})
	for n.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	stop()
	after := n.Load()
	time.Sleep(10 * time.Millisecond)
	if n.Load() != after {
		t.Fatalf("f ran after stop returned (%d -> %d)", after, n.Load())
	}
}

func TestEveryEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	Every(ctx, time.Hour, func(time.Time) bool { t.Fatal("f ran"); return false })
}
