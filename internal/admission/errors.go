package admission

import (
	"context"
	"errors"
	"fmt"

	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Kind classifies a refusal; the API maps it to a status code.
type Kind int

// Kinds of refusal.
const (
	// Invalid: the request itself is wrong (HTTP 422).
	Invalid Kind = iota + 1
	// Conflict: the live state does not allow it (HTTP 409).
	Conflict
	// NotFound: the cluster or backup does not exist (HTTP 404).
	NotFound
	// Unavailable: a dependency did not answer (HTTP 503).
	Unavailable
)

// Detail names one offending input.
type Detail struct {
	Location string
	Message  string
	Value    any
}

// Error is a refused request.
type Error struct {
	Kind    Kind
	Message string
	// Errs are field errors, located under Prefix ("body.", "path.", "query.").
	Errs   field.ErrorList
	Prefix string
	// Details are located errors that are not field errors.
	Details []Detail
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Errs.ToAggregate().Error()
}

func invalid(prefix string, errs field.ErrorList) *Error {
	return &Error{Kind: Invalid, Message: "validation failed", Errs: errs, Prefix: prefix}
}

func unavailable(what string, err error) *Error {
	return &Error{Kind: Unavailable, Message: what + ": " + err.Error()}
}

func notFound(msg string, d ...Detail) *Error {
	return &Error{Kind: NotFound, Message: msg, Details: d}
}

func clusterNotFound(namespace, name string) *Error {
	return notFound(fmt.Sprintf("cluster %s/%s does not exist", namespace, name))
}

// planErrorAt locates a planner rejection's fields under prefix; Admit
// keeps an *Error as it is.
func planErrorAt(err error, prefix string) error {
	if err == nil {
		return nil
	}
	return planError(err, prefix)
}

// planError turns a planner rejection into Invalid or Conflict.
func planError(err error, prefix string) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var rej *planner.Rejection
	if !errors.As(err, &rej) {
		return err
	}
	if rej.Conflict {
		return &Error{Kind: Conflict, Message: "the cluster's current state does not allow this operation", Errs: rej.Errs, Prefix: prefix}
	}
	return invalid(prefix, rej.Errs)
}

// observe reads an existing cluster; a bad name is Invalid, a missing
// cluster NotFound, any other failure Unavailable.
func observe(ctx context.Context, c Cluster, namespace, name string, scan []int) (Observation, *Error) {
	if errs := spec.ValidateName(field.NewPath("name"), name); len(errs) > 0 {
		return Observation{}, invalid("path.", errs)
	}
	obs, err := c.Observe(ctx, namespace, name, scan)
	switch {
	case errors.Is(err, ErrNotFound):
		return obs, clusterNotFound(namespace, name)
	case err != nil:
		return obs, unavailable("cannot observe the cluster", err)
	}
	return obs, nil
}
