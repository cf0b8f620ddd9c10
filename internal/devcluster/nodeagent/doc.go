// Package nodeagent is the node agent of the local Kubernetes stack: a
// kubelet stand-in, client-go only, that runs Pods as local processes.
//
// # Nodes
//
// One agent process runs Zones x NodesPerZone Nodes named
// <prefix>-<zone letter><n> (node-a1, node-a2, node-b1, ...). Node i
// (0-based, zone by zone) has InternalIP 10.244.(i+1).1 (its only address,
// so the apiserver reaches it without DNS), kubelet port 10250, labels
// topology.kubernetes.io/zone=zone-<letter> and kubernetes.io/hostname, a
// Ready condition and capacity (cpu, memory, pods). Its Lease in
// kube-node-lease is renewed every LeaseRenew (10 s); node status is
// rewritten every minute. On stop the nodes are marked NotReady.
//
// # Pods
//
// Each node watches the Pods bound to it (field selector spec.nodeName) and
// runs each in a worker goroutine, level-triggered: every pod update, process
// exit, probe result and a 1 s tick reconcile the processes against the spec
// and write the status only when it changed. Pods the scheduler has not bound,
// or bound to nodes of another agent, are never seen.
//
//   - Pod IP: from the node's /24 (.2-.254), allocated per pod UID and saved
//     in STATE/ipam.json before use, so a restarted agent never reuses a live
//     pod's IP. 10.244.0.0/16 must be routed to lo
//     (`ip route add local 10.244.0.0/16 dev lo table local`).
//   - Image -> process: imagemap.Map (one place, documented there; built-in
//     default or --image-map). redis images run /usr/bin/redis-server with
//     "--bind $(POD_IP) --protected-mode no" appended unless the args set
//     --bind; redis:7.0-bad adds "--maxmemory 1 --maxmemory-policy
//     noeviction" (reads work, writes fail); so does a redis container run
//     under the instance manager ("dayops instance run -- redis-server ...").
//     dayops images under any registry (**/dayops:*) and the dayops command
//     at any path (the image's entrypoint is /usr/local/bin/dayops) run the
//     locally built product binary (Config.DayopsBinary); a test builds the
//     real image and checks the rule against it. An image with no rule leaves its
//     container Waiting with reason ErrImagePull and a message naming the
//     image, and the Pod Pending.
//   - Environment: PATH, HOSTNAME, HOME and POD_IP (always), and
//     KUBERNETES_SERVICE_HOST/PORT naming the apiserver's own address
//     (Config.APIServer; the kubelet gives the `kubernetes` Service's
//     ClusterIP, which nothing routes here), then envFrom, then env with
//     $(VAR) expansion, downward API fieldRefs (metadata.name, namespace,
//     uid, labels, annotations, spec.nodeName, spec.serviceAccountName,
//     status.podIP, status.hostIP), resourceFieldRef, ConfigMap and Secret
//     key refs. command and args are $(VAR)-expanded. With the service
//     account token volume below, client-go's rest.InClusterConfig works in
//     a Pod (deploy/overlays/local runs dayops that way).
//   - File system: each process is started through a helper (`dayops-dev dev
//     agent pod-exec`, or the test binary) in its own mount namespace
//     (CLONE_NEWNS, private propagation) that bind-mounts every volume at its
//     mountPath, then execve's the real binary (the PID is kept: containerID
//     is process://PID). So `--dir /data` means the PVC. Mount points that do
//     not exist are created (empty) on the host.
//   - Network: there is no network namespace. A process binds its pod IP (the
//     image map's bind args). Commands run in a pod (kubectl exec, exec
//     probes) get the image map's exec rules: redis-cli without -h/-u/-s gets
//     "-h $(POD_IP)", so it reaches the pod's own redis and never the
//     machine's on 127.0.0.1:6379.
//   - Probes: startup, readiness, liveness; exec (in the pod's context),
//     tcpSocket and httpGet against the pod IP; thresholds, periods, initial
//     delay. Liveness/startup failure kills the container (SIGTERM, grace,
//     SIGKILL) and the restart policy applies.
//   - Restarts: Always/OnFailure/Never; the first restart is immediate, then
//     BackoffBase doubling to BackoffMax (reason CrashLoopBackOff while
//     waiting); restartCount and lastState are kept. Init containers run in
//     order before the containers.
//   - Image change in place (the one mutable container field): the
//     container is stopped and started with the new image at once
//     (restartCount+1, no back-off, whatever the restart policy).
//   - Deletion: SIGTERM to the container process (as a runtime sends it),
//     the grace period, SIGKILL to its process group, then
//     the IP and pod directory are freed and the Pod is deleted with grace 0
//     and a UID precondition. A Pod force-deleted (gone from the API before
//     the agent's own final delete) stands for a node that vanished: its
//     processes get SIGKILL at once, where a real kubelet gives 2 s of
//     SIGTERM (see podworker's terminate).
//   - Status: phase, conditions (PodReadyToStartContainers, Initialized,
//     ContainersReady, Ready; others such as PodScheduled are kept),
//     container statuses (containerID, image, imageID, started, ready, state,
//     lastState, restartCount), podIP(s), hostIP(s), startTime.
//
// # Volumes
//
// emptyDir and projected ConfigMap, Secret, downward API and service account
// token volumes (the admission plugin's kube-api-access: a token bound to the
// Pod, kube-root-ca.crt, the namespace) live under STATE/pods/<uid>/volumes
// and are refreshed every VolumeRefresh (30 s); hostPath is used as is; a
// PersistentVolumeClaim uses its bound volume's hostPath. The provisioner
// creates the StorageClass (default dayops-local, the cluster default,
// Immediate binding, reclaim Delete) and, for each unbound claim of that
// class, a hostPath PersistentVolume pvc-<claim UID> under STATE/volumes,
// pre-bound to the claim; when the claim is deleted, it removes the directory
// and the volume. All nodes share one file system, so a volume is usable from
// any node.
//
// # Kubelet API
//
// Each node serves HTTPS on its IP:10250 with a certificate signed by the
// cluster CA (PKIDir/ca.crt, ca.key; SANs: node IP and name) and requires a
// client certificate from that CA (the apiserver's kubelet client). Routes:
// /healthz, /pods, /containerLogs/{ns}/{pod}/{container} (follow, tailLines,
// timestamps, previous, sinceSeconds, sinceTime, limitBytes), /exec and /run
// (k8s.io/cri-streaming's remotecommand server: SPDY and WebSocket), and
// /portForward (dials the pod IP) and /attach (the output from now on; no
// stdin: processes start without one). exec runs the command
// in the container's environment and mounts (a new mount namespace with the
// same bind mounts), with the image map's exec rules; with -t it gets a
// pseudo-terminal (github.com/creack/pty) as its controlling tty.
//
// Logs are kept per container run in STATE/pods/<uid>/containers/<name>/
// <restartCount>.log in the CRI format (time, stream, P/F tag, text), rotated
// at MaxLogBytes; the previous run's file is kept for --previous.
//
// # Restarts of the agent
//
// Pod directories record the PID and start time of each running process.
// A starting agent stops those processes (SIGTERM, then SIGKILL after 10 s;
// a recycled PID is never hit) and frees IPs and directories of pods that no
// longer exist; the workers of existing pods start their containers again
// with the same IP and volumes, restartCount+1 and lastState reason
// AgentRestart. A process is never adopted without being waited for, and
// none is left behind. On SIGTERM the agent stops every pod process within
// its grace period (at most 10 s), keeps the pods' IPs, marks the nodes
// NotReady and exits. A stack that had to SIGKILL the agent runs `dayops-dev dev
// agent reap --state-dir DIR` to stop what it left.
package nodeagent
