package spec

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/distribution/reference"
	"github.com/google/uuid"
	"github.com/robfig/cron"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Bounds on the free text and the shapes a request may carry. Each exists
// because something downstream has a limit of its own: a reason is copied
// into every audit event's metadata and into Temporal memo and history, and
// an event over the store's metadata limit fails the operation with no
// record at all.
const (
	// MaxReasonBytes bounds a request's reason.
	MaxReasonBytes = 1024
	// MaxCronLength bounds a schedule's cron expression.
	MaxCronLength = 128
	// MaxHookURLLength bounds an HTTP hook's URL.
	MaxHookURLLength = 2048
	// MaxHookHeaders bounds an HTTP hook's headers (each name and value at most MaxHookHeaderBytes).
	MaxHookHeaders     = 32
	MaxHookHeaderBytes = 1024
	// MaxExecArgs bounds an exec hook's command (each argument at most MaxExecArgBytes).
	MaxExecArgs     = 64
	MaxExecArgBytes = 4096
	// MinHookTimeout and MaxHookTimeout bound one attempt of a hook.
	MinHookTimeout = time.Second
	MaxHookTimeout = 10 * time.Minute
	// MaxHookRetries bounds a hook's retries after its first attempt.
	MaxHookRetries = 10
	// MinGateInterval is the shortest time between two health gate
	// evaluations of a bake. A bake of any length (up to MaxUpgradeBake)
	// keeps the upgrade's history small: its evaluations run in a child
	// workflow that continues as new every 100 of them (see
	// internal/workflows/upgrade/bake.go).
	MinGateInterval = 5 * time.Second
	// MinScheduleEvery and MaxScheduleEvery bound a backup schedule's interval.
	MinScheduleEvery = time.Minute
	MaxScheduleEvery = 366 * 24 * time.Hour
)

// ValidateReason checks a request's free-text reason: at most MaxReasonBytes
// of UTF-8 without control characters other than newline and tab.
func ValidateReason(p *field.Path, reason string) field.ErrorList {
	if len(reason) > MaxReasonBytes {
		return field.ErrorList{field.TooLong(p, "", MaxReasonBytes)}
	}
	if !utf8.ValidString(reason) {
		return field.ErrorList{field.Invalid(p, reason, "must be UTF-8 text")}
	}
	for _, r := range reason {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return field.ErrorList{field.Invalid(p, reason, fmt.Sprintf("must not contain control characters (found %q)", r))}
		}
	}
	return nil
}

// ValidateImage parses a container image reference the way a container
// runtime does ("redis:7.0", "registry.example.com/redis@sha256:...").
func ValidateImage(p *field.Path, image string) field.ErrorList {
	if image == "" {
		return field.ErrorList{field.Required(p, "a container image reference is required")}
	}
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return field.ErrorList{field.Invalid(p, image, "must be a container image reference: "+err.Error())}
	}
	return nil
}

// ValidateCron parses a standard five-field cron expression or a descriptor
// such as @daily or @every 6h.
func ValidateCron(p *field.Path, expr string) field.ErrorList {
	if len(expr) > MaxCronLength {
		return field.ErrorList{field.TooLong(p, "", MaxCronLength)}
	}
	if strings.TrimSpace(expr) != expr || strings.ContainsAny(expr, "\t\n\r") {
		return field.ErrorList{field.Invalid(p, expr, "must be a cron expression without leading, trailing or control whitespace")}
	}
	if _, err := cron.ParseStandard(expr); err != nil {
		return field.ErrorList{field.Invalid(p, expr, "must be a five-field cron expression such as '0 3 * * *' or a descriptor such as @daily: "+err.Error())}
	}
	return nil
}

// ValidateNamespace checks a namespace name (a DNS-1123 label).
func ValidateNamespace(p *field.Path, ns string) field.ErrorList {
	if ns == "" {
		return field.ErrorList{field.Required(p, "a namespace is required")}
	}
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, ns, strings.Join(msgs, "; "))}
	}
	return nil
}

// ValidateBackupID checks a backup ID: the UUID of the operation that made it.
func ValidateBackupID(p *field.Path, id string) field.ErrorList {
	if id == "" {
		return field.ErrorList{field.Required(p, "a backup ID is required")}
	}
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return field.ErrorList{field.Invalid(p, id, "must be a backup ID (a UUID such as 0190f1c2-7a1b-7c3d-8e4f-123456789abc)")}
	}
	return nil
}

// References answers whether the Kubernetes objects a spec names exist. The
// API implements it with its Kubernetes client; it is an interface so spec
// stays free of client-go.
type References interface {
	// NamespaceExists reports whether the namespace exists.
	NamespaceExists(ctx context.Context, name string) (bool, error)
	// Secret returns the data keys (never the values) and the labels of a
	// Secret, and false when the Secret does not exist.
	Secret(ctx context.Context, namespace, name string) (SecretInfo, bool, error)
}

// SecretInfo is what admission may know of a Secret: which keys hold a value,
// and its labels. Values never leave the Kubernetes adapter.
type SecretInfo struct {
	Keys   []string
	Labels map[string]string
}

// ManagedNamespaces is implemented by References of an install that manages
// only some namespaces: it returns them and whether name is one.
type ManagedNamespaces interface {
	NamespaceManaged(name string) (managed []string, ok bool)
}

// PasswordKey is the key of a password Secret.
const PasswordKey = "password"

// LabelPasswordSecret is the opt-in label a user's Secret must carry
// (value "true") before dayops reads it as a cluster's password: an operator
// token may then only reveal (through /credentials) or use Secrets their owner
// handed to dayops, never any Secret that happens to have a "password" key.
const LabelPasswordSecret = "dayops.io/password-secret"

// SecretUsable reports whether dayops may read a Secret with these labels as
// a password: it created the Secret (app.kubernetes.io/managed-by=dayops) or
// its owner opted it in (LabelPasswordSecret=true).
func SecretUsable(labels map[string]string) bool {
	return labels[LabelPasswordSecret] == "true" || labels["app.kubernetes.io/managed-by"] == "dayops"
}

// CheckReferences checks that what a defaulted, valid spec names exists: its
// namespace and, when set, its passwordSecret with a "password" key and the
// opt-in label (SecretUsable). A
// missing object is a field error (the request is refused before anything
// starts); err is a failure to ask. A refs that implements
// ManagedNamespaces also refuses a namespace the install does not manage.
func CheckReferences(ctx context.Context, refs References, c Cluster) (field.ErrorList, error) {
	if m, ok := refs.(ManagedNamespaces); ok {
		if managed, ok := m.NamespaceManaged(c.Namespace); !ok {
			return field.ErrorList{field.Forbidden(field.NewPath("namespace"),
				fmt.Sprintf("dayops manages only the namespaces %s (DAYOPS_NAMESPACES)", strings.Join(managed, ", ")))}, nil
		}
	}
	ok, err := refs.NamespaceExists(ctx, c.Namespace)
	if err != nil {
		return nil, fmt.Errorf("look up namespace %s: %w", c.Namespace, err)
	}
	if !ok {
		return field.ErrorList{field.NotFound(field.NewPath("namespace"), c.Namespace)}, nil
	}
	if c.PasswordSecret == "" {
		return nil, nil
	}
	info, found, err := refs.Secret(ctx, c.Namespace, c.PasswordSecret)
	if err != nil {
		return nil, fmt.Errorf("look up secret %s/%s: %w", c.Namespace, c.PasswordSecret, err)
	}
	switch {
	case !found:
		return field.ErrorList{field.NotFound(field.NewPath("passwordSecret"), c.PasswordSecret)}, nil
	case !SecretUsable(info.Labels):
		return field.ErrorList{field.Forbidden(field.NewPath("passwordSecret"),
			fmt.Sprintf("Secret %s/%s is not opted in: dayops uses only Secrets it created or that carry the label %s=true",
				c.Namespace, c.PasswordSecret, LabelPasswordSecret))}, nil
	case !slices.Contains(info.Keys, PasswordKey):
		return field.ErrorList{field.Invalid(field.NewPath("passwordSecret"), c.PasswordSecret,
			fmt.Sprintf("the Secret has no %q key", PasswordKey))}, nil
	}
	return nil, nil
}
