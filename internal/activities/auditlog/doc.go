// Package auditlog writes the audit events of running operations into the
// event store: RecordEvents (an activity for domain facts the workflow
// decides, such as ClusterCreated or SlotsMigrated) and StepInterceptor (a
// worker interceptor that records StepStarted, StepCompleted and StepFailed
// around every other activity).
//
// Contract: exactly once. Every event ID is
// eventstore.StepEventID(workflowID+"/"+operationID, activityID, seq): a
// retried attempt derives the same IDs and the store keeps the first. The
// operation ID is part of the key because activity IDs restart at 1 for each
// operation of a cluster (they share one workflow ID). Actor, reason,
// correlation (the operation) and cluster come from operation.Meta, carried
// by the context propagator. A StepFailed is written only for the attempt
// that ends the step (a non-retryable error, the last allowed attempt, or a
// cancellation); earlier failed attempts are Temporal's business.
package auditlog
