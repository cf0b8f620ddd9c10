package httpapi

import "github.com/dayops/dayops/internal/apiv1"

// The API's wire types live in package apiv1 (shared with the CLI); these
// aliases keep the old names.
type (
	CreateClusterBody = apiv1.CreateClusterBody
	OperationBody     = apiv1.OperationBody
	OperationAccepted = apiv1.OperationAccepted
	Operation         = apiv1.Operation
	ClusterInstance   = apiv1.ClusterInstance
	ClusterDetail     = apiv1.ClusterDetail
	LastOperation     = apiv1.LastOperation
	ClusterSummary    = apiv1.ClusterSummary
	Event             = apiv1.Event
	EventPage         = apiv1.EventPage
	Credentials       = apiv1.Credentials
	DecisionBody      = apiv1.DecisionBody
	DecisionAnswer    = apiv1.DecisionAnswer
	BackupBody        = apiv1.BackupBody
	BackupAccepted    = apiv1.BackupAccepted
	BackupSummary     = apiv1.BackupSummary
	BackupDetail      = apiv1.BackupDetail
	RestoreBody       = apiv1.RestoreBody
	BackupSchedule    = apiv1.BackupSchedule
)
