// Package render renders the Kubernetes objects of a Redis cluster from its
// spec and an instance's identity: object names and labels, the Pod and
// PersistentVolumeClaim of an instance (placement across zones included), the
// headless and per-shard Services, the ConfigMap with redis.conf, the password
// Secret, the spec hash that tells an upgrade which Pods are out of date and
// the config revisions an upgrade mounts.
//
// Contract: every function is pure and deterministic (same spec and instance,
// same object, byte for byte; map-derived lists are sorted), so the
// activities can compare what exists with what should and act only on a
// difference. The package imports no go.temporal.io package
// (TestNoTemporalImport) and no client: it only builds API objects; applying
// them is internal/activities/kube's job.
package render
