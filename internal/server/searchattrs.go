package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/dayops/dayops/internal/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
)

// SearchAttributes are the keyword attributes dayops' workflows carry.
var SearchAttributes = []string{
	workflows.SearchAttrCluster, workflows.SearchAttrOperation, workflows.SearchAttrOperationID,
	workflows.SearchAttrRequester, workflows.SearchAttrShard,
}

// EnsureSearchAttributes registers the missing ones. On a Temporal where this
// process may not administer the namespace, it logs what an operator must add
// and goes on (starting an operation will then fail with a clear error).
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, log *slog.Logger) error {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range SearchAttributes {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	slices.Sort(names)
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	if err != nil {
		log.Warn("cannot register search attributes; register them as Keyword with `temporal operator search-attribute create`",
			"names", names, "err", err)
		return nil
	}
	log.Info("registered search attributes", "names", names)
	return nil
}
