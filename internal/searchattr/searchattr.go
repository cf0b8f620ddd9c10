// Package searchattr names the Temporal search attributes dayops' workflows
// carry and registers them in a namespace. It is the one list: the workflows
// set them, the server registers them at start, and the local stack registers
// them in both of its Temporal modes.
package searchattr

import (
	"context"
	"errors"
	"fmt"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
)

// The Keyword search attributes.
const (
	Cluster     = "DayopsCluster"     // "<namespace>/<cluster>"
	Operation   = "DayopsOperation"   // the operation type
	OperationID = "DayopsOperationID" // the operation's ID
	Requester   = "DayopsRequester"   // who asked
	Shard       = "DayopsShard"       // for per-shard child workflows
)

// Names lists every one of them, sorted.
var Names = []string{Cluster, Operation, OperationID, Requester, Shard}

// Register adds the attributes the namespace lacks (all Keyword) and returns
// their names, sorted; one another process added meanwhile counts as added.
func Register(ctx context.Context, ops operatorservice.OperatorServiceClient, namespace string) ([]string, error) {
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	var names []string
	for _, name := range Names {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
			names = append(names, name)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	slices.Sort(names)
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return names, fmt.Errorf("add search attributes %v: %w", names, err)
	}
	return names, nil
}
