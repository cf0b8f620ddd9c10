package render

import (
	"fmt"
	"strconv"
)

// Label keys on every object a cluster owns. The role label follows the live
// replication role and is rewritten after every handover, so the per-shard
// Service always selects the current primary.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelName      = "app.kubernetes.io/name"
	LabelCluster   = "dayops.io/cluster"
	LabelShard     = "dayops.io/shard"
	LabelOrdinal   = "dayops.io/ordinal"
	LabelRole      = "dayops.io/role"

	ManagedBy = "dayops"
	AppName   = "redis"

	// AnnotationNodeID records the Redis Cluster node ID an ordinal was given, so
	// an ordinal is never silently reused for another node.
	AnnotationNodeID = "dayops.io/node-id"
	// AnnotationSpecHash is the hash of the rendered instance spec, to tell
	// whether a Pod is up to date.
	AnnotationSpecHash = "dayops.io/spec-hash"

	// RedisPort and BusPort are the client and cluster-bus ports of every instance.
	RedisPort = 6379
	BusPort   = 16379

	// DataDir is where each instance keeps nodes.conf, RDB and AOF files.
	DataDir = "/data"
	// ConfDir is where the cluster's redis.conf is mounted.
	ConfDir = "/etc/redis"
	// PasswordKey is the key of the password in the cluster's Secret.
	PasswordKey = "password"
)

// PodName is the name of the instance with this ordinal: "<cluster>-<ordinal>".
func PodName(cluster string, ordinal int) string { return fmt.Sprintf("%s-%d", cluster, ordinal) }

// PVCName is the name of the data volume claim of an ordinal.
func PVCName(cluster string, ordinal int) string { return fmt.Sprintf("data-%s-%d", cluster, ordinal) }

// ConfigMapName is the name of the cluster's redis.conf ConfigMap, which is also
// the owner of the cluster's Pods and Services for garbage collection.
func ConfigMapName(cluster string) string { return cluster + "-config" }

// SecretName is the default name of the generated password Secret.
func SecretName(cluster string) string { return cluster + "-auth" }

// HeadlessServiceName is the cluster-wide headless Service.
func HeadlessServiceName(cluster string) string { return cluster + "-headless" }

// ShardServiceName is the Service that selects the current primary of a shard.
func ShardServiceName(cluster string, shard int) string {
	return cluster + "-shard-" + strconv.Itoa(shard)
}

// ClusterSelector selects every object of a cluster.
func ClusterSelector(cluster string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelCluster: cluster}
}
