package server

import (
	"context"
	"log/slog"

	"github.com/dayops/dayops/internal/searchattr"
	"go.temporal.io/sdk/client"
)

// SearchAttributes are the keyword attributes dayops' workflows carry.
var SearchAttributes = searchattr.Names

// EnsureSearchAttributes registers the missing ones. On a Temporal where this
// process may not administer the namespace, it logs what an operator must add
// and goes on (starting an operation will then fail with a clear error).
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, log *slog.Logger) error {
	added, err := searchattr.Register(ctx, c.OperatorService(), namespace)
	if err != nil {
		log.Warn("cannot register search attributes; register them as Keyword with `temporal operator search-attribute create`",
			"names", searchattr.Names, "err", err)
		return nil
	}
	if len(added) > 0 {
		log.Info("registered search attributes", "names", added)
	}
	return nil
}
