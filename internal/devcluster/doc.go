// Package devcluster starts, stops and reports the local development stack
// that dayops is developed and tested against (`dayops-dev dev up|down|status`):
//
//   - the Temporal dev server (bin/temporal, SQLite in STATE/temporal.db,
//     Web UI; dayops' Keyword search attributes registered at start), or in
//     server mode (--temporal=server) Temporal's own server
//     (bin/temporal-server: frontend, history, matching and worker services
//     in one process) on two PostgreSQL databases whose schema
//     bin/temporal-sql-tool sets up, its frontend requiring client
//     certificates signed by the stack's CA; `up` then registers the
//     `default` namespace and the search attributes;
//   - etcd, kube-apiserver, kube-scheduler and kube-controller-manager
//     (bin/kube, a multi-call binary built from k8s.io/kubernetes v1.36.3);
//   - the node agent (`dayops-dev dev agent`, package nodeagent), which
//     registers zone-labelled Nodes and runs Pods as local processes on
//     addresses of PodCIDR, routed to the loopback device by Up;
//   - a database on the machine's PostgreSQL, created if absent.
//
// Contract:
//   - Every component is a process of its own session (it outlives the
//     `dayops` that started it), logs to STATE/logs/NAME.log, and is recorded
//     in STATE/stack.json with its pid and start time, so a recycled pid is
//     never mistaken for it.
//   - Up is idempotent: running components are kept, dead ones (a killed
//     run) are started again (after their idempotent preparation: the
//     server mode's databases, schema and config), and it returns only once
//     every component answers its health probe and has been set up (the
//     server mode's namespace and search attributes), or with an error
//     holding the tail of the failing component's log (after stopping what
//     that call started).
//   - Down stops exactly what Up recorded: the agent first with SIGTERM to
//     it alone (it stops its pods), then the scheduler, controller-manager,
//     API server and Temporal, and etcd last (the API server hangs on
//     SIGTERM once etcd is gone); SIGKILL to the process group after the
//     grace period. It removes the pod route only if Up added it.
//   - Up and Down serialise on an flock of STATE/stack.lock, which the
//     kernel releases if the holder dies.
//   - The PKI (STATE/pki, ECDSA P-256 keys in PKCS#8 PEM, one CA) is made
//     once and reused; the agent signs its kubelet serving certificates
//     with pki/ca.crt and pki/ca.key. The admin and agent kubeconfigs hold
//     system:masters client certificates: acceptable for a local stack only.
//
// Tests share one stack per run through package devtest.
package devcluster
