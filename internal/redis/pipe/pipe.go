// Package pipe runs Redis commands the way the slot mover
// (internal/redis/slotmigrate and its copy path, internal/redis/slotcopy)
// does: one pipeline whose commands the caller inspects one by one (Exec,
// Tx), and a bounded fan-out whose first error cancels the rest (Parallel).
//
// It is a library: it imports no go.temporal.io package.
package pipe

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Exec runs the commands built by build on c (the client of addr) as one
// pipeline and returns them for the caller to inspect one by one. A failure
// of the connection itself is returned as the error.
func Exec(ctx context.Context, c *redis.Client, addr string, build func(p redis.Pipeliner)) ([]redis.Cmder, error) {
	return run(ctx, c.Pipeline(), "pipeline to "+addr, build)
}

// Tx is Exec inside MULTI/EXEC.
func Tx(ctx context.Context, c *redis.Client, addr string, build func(p redis.Pipeliner)) ([]redis.Cmder, error) {
	return run(ctx, c.TxPipeline(), "transaction on "+addr, build)
}

func run(ctx context.Context, p redis.Pipeliner, what string, build func(p redis.Pipeliner)) ([]redis.Cmder, error) {
	build(p)
	cmds, err := p.Exec(ctx)
	if err := Failed(cmds, err); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return cmds, nil
}

// Failed tells apart, in what a pipeline's Exec returned, a failure of the
// pipeline as a whole (returned) from errors of some of its commands (nil:
// the caller inspects each). A Redis error that no command carries failed
// the pipeline as a whole: go-redis v9 returns the error of a connection
// whose setup Redis refused (AUTH answered WRONGPASS or NOAUTH by a node
// its instance manager fences, HELLO refused) without setting it on the
// commands, whose zero values then read as successes. Taken for per-command
// errors, that made a copy's RESTOREs on a fenced target look done, and the
// source deleted the keys (the target-kill chaos scenario lost 46-199 keys
// in every run until this check).
func Failed(cmds []redis.Cmder, err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return err
	}
	for _, c := range cmds {
		if c.Err() != nil {
			return nil
		}
	}
	return err
}

// Parallel runs fn on every item, at most n at a time; the first error
// cancels the others and is returned.
func Parallel[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan T)
	var wg sync.WaitGroup
	for range max(1, min(n, len(items))) {
		wg.Go(func() {
			for it := range next {
				if err := fn(ctx, it); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case next <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
