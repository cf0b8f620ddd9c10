// Package backups holds the backup, scheduled backup, backup deletion and
// restore workflows, built on the backup activities (RDB streaming and
// replay live in internal/redis/rdb). Workflow contract: see package
// workflows.
package backups
