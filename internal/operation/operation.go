// Package operation identifies one lifecycle operation of a Redis cluster
// (its ID, type, cluster, actor and reason) and carries that identity from a
// workflow to every activity it runs, through a Temporal context propagator,
// so that activities and the audit interceptor know whom they act for without
// repeating it in every input.
//
// Contract: Meta is set once by the API when the operation is requested and
// never changes during the operation; it is part of workflow history (in the
// workflow input and activity headers), so it must not hold secrets.
package operation

import (
	"encoding/json"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
)

// Type names a lifecycle operation (a wire type, defined in apiv1).
type Type = apiv1.OperationType

// Operation types.
const (
	Create        = apiv1.OpCreate
	ScaleShards   = apiv1.OpScaleShards
	ScaleReplicas = apiv1.OpScaleReplicas
	Delete        = apiv1.OpDelete
	Backup        = apiv1.OpBackup
	Restore       = apiv1.OpRestore
	DeleteBackup  = apiv1.OpDeleteBackup
	Upgrade       = apiv1.OpUpgrade
	Recover       = apiv1.OpRecover
	Switchover    = apiv1.OpSwitchover
)

// Meta is what every operation carries: who asked, why, and its identity.
type Meta struct {
	// OperationID is assigned by the API (a UUID) and is the correlation ID
	// of every audit event of the operation.
	OperationID string `json:"operationId"`
	Type        Type   `json:"type"`
	Namespace   string `json:"namespace"`
	Cluster     string `json:"cluster"`
	// Actor is the authenticated subject that requested the operation.
	Actor string `json:"actor"`
	// Reason is the free text the requester gave.
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requestedAt"`
	// Params are the request's query and body, secrets redacted
	// (audit.RequestParams), recorded in OperationRequested. They travel
	// in the workflow's input only, never in the propagated headers.
	Params json.RawMessage `json:"params,omitempty"`
}

// ClusterKey names the cluster in the audit log: "<namespace>/<name>".
func (m Meta) ClusterKey() string { return ClusterKey(m.Namespace, m.Cluster) }

// ClusterKey names a cluster in the audit log: "<namespace>/<name>".
func ClusterKey(namespace, name string) string { return namespace + "/" + name }

// WorkflowID is the ID of the one mutating operation a cluster may run at a
// time ("dayops/<namespace>/<name>"); child workflows of an operation are
// named below it. It does not depend on the operation type.
func WorkflowID(namespace, name string) string { return "dayops/" + namespace + "/" + name }
