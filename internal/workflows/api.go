package workflows

import (
	"github.com/dayops/dayops/internal/workflows/backups"
	"github.com/dayops/dayops/internal/workflows/flow"
	"github.com/dayops/dayops/internal/workflows/guardianwf"
	"github.com/dayops/dayops/internal/workflows/lifecycle"
	"github.com/dayops/dayops/internal/workflows/selfheal"
	"github.com/dayops/dayops/internal/workflows/upgrade"
)

// The names the API, the server, the CLI and the tests use, re-exported from
// the packages that define them so that callers import one package. Workflow
// functions are the functions themselves (not wrappers): Temporal names a
// workflow after its function, so a caller that starts one by reference
// starts the registered type.

// Shared by every operation (package flow).
const (
	TaskQueue             = flow.TaskQueue
	SearchAttrCluster     = flow.SearchAttrCluster
	SearchAttrOperation   = flow.SearchAttrOperation
	SearchAttrOperationID = flow.SearchAttrOperationID
	SearchAttrRequester   = flow.SearchAttrRequester
	SearchAttrShard       = flow.SearchAttrShard
	QueryProgress         = flow.QueryProgress
	QueryPlan             = flow.QueryPlan
	ErrTypePlanDiverged   = flow.ErrTypePlanDiverged
	ErrTypePlanRejected   = flow.ErrTypePlanRejected
	OpCreate              = flow.OpCreate
	OpScaleShards         = flow.OpScaleShards
	OpScaleReplicas       = flow.OpScaleReplicas
	OpDelete              = flow.OpDelete
	OpUpgrade             = flow.OpUpgrade
	OutcomeSucceeded      = flow.OutcomeSucceeded
	OutcomeFailed         = flow.OutcomeFailed
	OutcomeCancelled      = flow.OutcomeCancelled
	OutcomeRolledBack     = flow.OutcomeRolledBack
)

type (
	Meta          = flow.Meta
	OperationType = flow.OperationType
	Outcome       = flow.Outcome
	Result        = flow.Result
	Progress      = flow.Progress
)

// WorkflowID is the ID of the one mutating operation a cluster may run at a
// time (see flow.WorkflowID).
func WorkflowID(namespace, cluster string) string { return flow.WorkflowID(namespace, cluster) }

// Create, scale and delete (package lifecycle).
type (
	CreateClusterInput = lifecycle.CreateClusterInput
	ScaleShardsInput   = lifecycle.ScaleShardsInput
	ScaleReplicasInput = lifecycle.ScaleReplicasInput
	DeleteClusterInput = lifecycle.DeleteClusterInput
	AdmittedPlan       = lifecycle.AdmittedPlan
)

var (
	CreateCluster = lifecycle.CreateCluster
	ScaleShards   = lifecycle.ScaleShards
	ScaleReplicas = lifecycle.ScaleReplicas
	DeleteCluster = lifecycle.DeleteCluster
)

// Upgrade (package upgrade).
const (
	UpdateApprove         = upgrade.UpdateApprove
	UpdateAbort           = upgrade.UpdateAbort
	SignalPause           = upgrade.SignalPause
	SignalResume          = upgrade.SignalResume
	StageCanary           = upgrade.StageCanary
	StageBaking           = upgrade.StageBaking
	StageAwaitingApproval = upgrade.StageAwaitingApproval
	StageRolling          = upgrade.StageRolling
	StageRollingBack      = upgrade.StageRollingBack
	StageFinishing        = upgrade.StageFinishing
	StageDone             = upgrade.StageDone
)

type (
	UpgradeInput      = upgrade.UpgradeInput
	UpgradeBakeInput  = upgrade.UpgradeBakeInput
	UpgradeBakeResult = upgrade.UpgradeBakeResult
	UpgradeProgress   = upgrade.UpgradeProgress
	Decision          = upgrade.Decision
	DecisionResult    = upgrade.DecisionResult
)

var (
	Upgrade     = upgrade.Upgrade
	UpgradeBake = upgrade.UpgradeBake
)

// Backup and restore (package backups).
const (
	OpBackup             = backups.OpBackup
	OpRestore            = backups.OpRestore
	OpDeleteBackup       = backups.OpDeleteBackup
	ErrTypeNotBackupable = backups.ErrTypeNotBackupable
)

type (
	BackupInput           = backups.BackupInput
	DeleteBackupInput     = backups.DeleteBackupInput
	RestoreInput          = backups.RestoreInput
	ScheduledBackupInput  = backups.ScheduledBackupInput
	ScheduledBackupResult = backups.ScheduledBackupResult
)

var (
	Backup          = backups.Backup
	DeleteBackup    = backups.DeleteBackup
	Restore         = backups.Restore
	ScheduledBackup = backups.ScheduledBackup
)

// BackupWorkflowID is the workflow ID of an operation on a backup itself
// (see backups.BackupWorkflowID).
func BackupWorkflowID(backupID string) string { return backups.BackupWorkflowID(backupID) }

// Self-healing: the guardian (package guardianwf), recover and switchover
// (package selfheal).
const (
	OpRecover        = selfheal.OpRecover
	OpSwitchover     = selfheal.OpSwitchover
	ErrTypeNoPrimary = selfheal.ErrTypeNoPrimary
	QueryHealth      = guardianwf.QueryHealth
)

type (
	GuardianInput   = guardianwf.GuardianInput
	GuardianHealth  = guardianwf.GuardianHealth
	RecoverInput    = selfheal.RecoverInput
	SwitchoverInput = selfheal.SwitchoverInput
)

var (
	Guardian   = guardianwf.Guardian
	Recover    = selfheal.Recover
	Switchover = selfheal.Switchover
)

// GuardianWorkflowID is the ID of a cluster's guardian (see
// guardianwf.GuardianWorkflowID).
func GuardianWorkflowID(namespace, cluster string) string {
	return guardianwf.GuardianWorkflowID(namespace, cluster)
}
