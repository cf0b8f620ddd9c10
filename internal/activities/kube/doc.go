// Package kube holds the Kubernetes activities of dayops: they apply, wait
// for, observe, relabel and delete the objects a Redis cluster is made of
// through client-go. The objects themselves (names, labels, Pods, PVCs,
// Services, ConfigMaps, redis.conf, spec hash, config revisions) are rendered
// by the pure functions of internal/kube/render.
//
// Contract: instances are managed one by one, each a Pod plus a
// PersistentVolumeClaim named from the cluster and a stable ordinal (no
// StatefulSet), so an ordinal in the middle can go without renumbering the
// rest. Every activity is idempotent: it observes, acts only when needed,
// treats "already there" as success and NotFound on delete as done.
package kube
