package podworker

import "k8s.io/apimachinery/pkg/types"

// Record is what a pod directory remembers across agent runs.
type Record struct {
	Namespace string               `json:"namespace"`
	Name      string               `json:"name"`
	UID       types.UID            `json:"uid"`
	Procs     map[string]ProcEntry `json:"procs,omitempty"`
}

type ProcEntry struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}
