// Package kube holds the Kubernetes side of dayops: the objects a Redis
// cluster is made of (rendered by pure functions from the cluster spec and an
// instance's identity) and the activities that apply, wait for and delete them
// through client-go.
//
// Contract: instances are managed one by one, each a Pod plus a
// PersistentVolumeClaim named from the cluster and a stable ordinal (no
// StatefulSet), so an ordinal in the middle can go without renumbering the
// rest. Every activity is idempotent: it observes, acts only when needed,
// treats "already there" as success and NotFound on delete as done.
package kube
