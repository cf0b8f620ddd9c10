package clusteradmin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stable error type names, meant for temporal.NewApplicationError's errType
// (and NonRetryable when Classify says so). Never rename them: workflows and
// retry policies match on them.
const (
	// TypeTransient: the cluster was busy, moving, loading or unreachable for
	// longer than the in-activity retries; retrying the activity is safe.
	TypeTransient = "RedisTransient"
	// TypeKeyTooBig: a key is larger than Limits.MaxKeyBytes; moving it needs
	// an operator (non-retryable).
	TypeKeyTooBig = "RedisKeyTooBig"
	// TypeBusyKeyConflict: a key exists on both sides with different values
	// and the policy forbids replacing it (non-retryable).
	TypeBusyKeyConflict = "RedisBusyKeyConflict"
	// TypePlanConflict: the cluster disagrees with the plan (a slot owned by a
	// third node, a slot open towards another node) (non-retryable).
	TypePlanConflict = "RedisPlanConflict"
	// TypePrecondition: a check before acting failed (replica not in sync,
	// node not a replica, keys on a node to reset); retryable, as time may fix
	// it.
	TypePrecondition = "RedisPrecondition"
	// TypeFenced: a node refused the cluster's password for longer than the
	// caller waits for a fence (non-retryable: the wait was the retry).
	TypeFenced = "RedisFenced"
	// TypePermanent: any other error Redis returned for a command (wrong
	// arguments, unknown command): non-retryable.
	TypePermanent = "RedisPermanent"
)

// Classify returns the stable type name of err and whether retrying the whole activity may help. Context errors are transient;
// a refused password is permanent (a wrong one fails at once): callers that may meet a fenced node wait, then FencedError.
func Classify(err error) (typeName string, retryable bool) {
	var tooBig *KeyTooBigError
	var busy *BusyKeyConflictError
	var plan *PlanConflictError
	var pre *PreconditionError
	switch {
	case err == nil:
		return "", false
	case errors.As(err, &tooBig):
		return TypeKeyTooBig, false
	case errors.As(err, &busy):
		return TypeBusyKeyConflict, false
	case errors.As(err, &plan):
		return TypePlanConflict, false
	case errors.As(err, &pre):
		return TypePrecondition, true
	case errors.As(err, new(*FencedError)):
		return TypeFenced, false
	case IsTransient(err), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return TypeTransient, true
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return TypePermanent, false
	}
	// Unknown non-Redis errors (I/O we did not recognise): let the activity
	// retry policy decide.
	return TypeTransient, true
}

// FencedError: the node at Addr refused the cluster's password for Wait.
type FencedError struct {
	Addr string
	Wait time.Duration
	Err  error
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("%s refused the cluster's password for %s: fenced by its instance manager all along (its log says why), or the password is wrong: %v",
		e.Addr, e.Wait, e.Err)
}

func (e *FencedError) Unwrap() error { return e.Err }

// IsAuthError reports whether a node refused the password (WRONGPASS,
// NOAUTH): in a dayops cluster, a node its instance manager fences.
func IsAuthError(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	return strings.HasPrefix(msg, "WRONGPASS") || strings.HasPrefix(msg, "NOAUTH")
}

// KeyTooBigError names a key larger than the configured limit.
type KeyTooBigError struct {
	Key   string
	Slot  int
	Bytes int64
	Limit int64
}

func (e *KeyTooBigError) Error() string {
	return fmt.Sprintf("key %q in slot %d is %d bytes, over the limit of %d bytes: move it by hand or raise the limit", e.Key, e.Slot, e.Bytes, e.Limit)
}

// BusyKeyConflictError names a key present on source and target with
// different values when the policy is BusyKeyFail.
type BusyKeyConflictError struct {
	Key    string
	Slot   int
	Source string
	Target string
}

func (e *BusyKeyConflictError) Error() string {
	return fmt.Sprintf("key %q in slot %d exists on target %s with a different value than on source %s", e.Key, e.Slot, e.Target, e.Source)
}

// PlanConflictError says the cluster is not in a state the plan can act on.
type PlanConflictError struct {
	Slot   int
	Reason string
}

func (e *PlanConflictError) Error() string {
	return fmt.Sprintf("slot %d: %s", e.Slot, e.Reason)
}

// PreconditionError says a check before acting failed.
type PreconditionError struct {
	Addr   string
	Reason string
}

func (e *PreconditionError) Error() string { return fmt.Sprintf("%s: %s", e.Addr, e.Reason) }

// transientPrefixes are Redis error prefixes that go away by themselves.
var transientPrefixes = []string{"TRYAGAIN", "ASK ", "MOVED ", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "BUSY ", "IOERR", "NOREPLICAS"}

// IsTransient reports whether err is a redirection, a cluster reconfiguring,
// a loading node, or a connection problem: worth retrying with back-off.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var te transientError
	if errors.As(err, &te) {
		return true
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := strings.TrimPrefix(rerr.Error(), "ERR ")
		for _, p := range transientPrefixes {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		// MIGRATE reports the target's own error inside an ERR: classify it
		// by the target's error code (a node that has just joined answers
		// CLUSTERDOWN until it learns the slot map; one that is loading,
		// LOADING). Its I/O trouble is an IOERR.
		if _, target, ok := strings.Cut(msg, "Target instance replied with error: "); ok {
			for _, p := range transientPrefixes {
				if strings.HasPrefix(target, p) {
					return true
				}
			}
		}
		return strings.Contains(msg, "IOERR")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr)
}

// transientError marks conditions of our own that pass by themselves.
type transientError string

func (e transientError) Error() string { return string(e) }

func isBusyKey(err error) bool { return err != nil && strings.Contains(err.Error(), "BUSYKEY") }

func hasMsg(err error, sub string) bool { return err != nil && strings.Contains(err.Error(), sub) }

// retry runs op until it succeeds, fails with a non-transient error, the
// context ends, or Limits.RetryFor has passed, backing off exponentially
// from Limits.RetryBase up to one second.
func (a *Admin) retry(ctx context.Context, what string, op func(context.Context) error) error {
	deadline := time.Now().Add(a.limits().RetryFor)
	wait := a.limits().RetryBase
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || !IsTransient(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still failing after %d attempts: %w", what, attempt, err)
		}
		a.log().DebugContext(ctx, "transient redis error, retrying", "op", what, "attempt", attempt, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last error: %w)", what, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// Transient returns an error IsTransient reports as transient, for
// conditions that retrying clears (a slot still being emptied).
func Transient(msg string) error { return transientError(msg) }

// Retry runs op, retrying transient errors with back-off for
// Limits.RetryFor.
func (a *Admin) Retry(ctx context.Context, what string, op func(context.Context) error) error {
	return a.retry(ctx, what, op)
}
