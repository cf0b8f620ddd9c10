package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dayops/dayops/internal/devcluster/devtest"
)

// TestAgentRestart runs the agent as a separate process, kills it with
// SIGKILL while a pod runs (leaving its redis-server behind), starts it
// again on the same state dir and checks that the leftover process is gone
// and the pod runs again on the same IP with restartCount 1; then stops the
// agent with SIGTERM and checks that it stops its pod's process and marks
// its nodes NotReady.
func TestAgentRestart(t *testing.T) {
	env := devtest.Get(t)
	cfg := testAgentConfig(t, env, "nrt", 220, 1) // above devcluster TestDownStopsTheAgentAndItsPods (151-200)
	id, exe := cfg.NodePrefix, cfg.Helper[0]
	cfg.Zones, cfg.NodesPerZone = 1, 1
	cfg.StorageClass = ""
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ta := &testAgent{id: id, cs: env.Clientset, env: env, nodes: cfg.nodes()}
	node := ta.nodes[0].Name
	t.Cleanup(func() {
		bg := context.Background()
		zero := int64(0)
		pods, _ := ta.cs.CoreV1().Pods(env.Namespace).List(bg, metav1.ListOptions{})
		for _, p := range pods.Items {
			_ = ta.cs.CoreV1().Pods(p.Namespace).Delete(bg, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
		_ = ta.cs.CoreV1().Nodes().Delete(bg, node, metav1.DeleteOptions{})
		_ = ta.cs.CoordinationV1().Leases(leaseNamespace).Delete(bg, node, metav1.DeleteOptions{})
	})

	start := func() (*exec.Cmd, chan error) {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), testAgentEnv+"="+string(raw))
		cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		exited := make(chan struct{})
		go func() { done <- cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		return cmd, done
	}
	nodeReady := func(want corev1.ConditionStatus) {
		t.Helper()
		waitFor(t, 60*time.Second, fmt.Sprintf("node %s Ready=%s", node, want), func() (bool, string) {
			n, err := ta.cs.CoreV1().Nodes().Get(t.Context(), node, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					return c.Status == want, string(c.Status) + " " + c.Reason
				}
			}
			return false, "no Ready condition"
		}, true)
	}

	first, firstDone := start()
	nodeReady(corev1.ConditionTrue)
	ns := env.Namespace
	ta.create(t, ns, ta.pod("survivor", "redis:7.0", nil))
	p := ta.waitPod(t, ns, "survivor", 60*time.Second, "running and ready", podReady)
	ip, pid1 := p.Status.PodIP, pidOf(t, p)

	// Crash the agent: its redis-server is left running.
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-firstDone
	if !processAlive(pid1) {
		// Say what the pod looked like: a restart before the kill (the
		// process had already been replaced) is another failure than a
		// process that died with its agent.
		now, _ := ta.cs.CoreV1().Pods(ns).Get(t.Context(), "survivor", metav1.GetOptions{})
		var status any
		if now != nil {
			status = now.Status.ContainerStatuses
		}
		t.Fatalf("precondition: the pod's process %d died with the agent (pod IP %s, container statuses %+v)", pid1, ip, status)
	}

	second, secondDone := start()
	p = ta.waitPod(t, ns, "survivor", 60*time.Second, "restarted by the new agent", func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		cs := p.Status.ContainerStatuses[0]
		return podReady(p) && cs.RestartCount == 1 && cs.ContainerID != fmt.Sprintf("process://%d", pid1)
	})
	if processAlive(pid1) {
		t.Errorf("the process %d left by the killed agent is still running", pid1)
	}
	if p.Status.PodIP != ip {
		t.Errorf("pod IP changed across the agent restart: %s -> %s", ip, p.Status.PodIP)
	}
	if got, err := redisClient(t, ip).Ping(t.Context()).Result(); err != nil || got != "PONG" {
		t.Errorf("PING after restart: %q %v", got, err)
	}
	pid2 := pidOf(t, p)

	// A graceful stop stops the pod's process and marks the node NotReady.
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-secondDone:
		if err != nil {
			t.Errorf("agent exit after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("agent did not exit within 60s of SIGTERM")
	}
	if processAlive(pid2) {
		t.Errorf("pod process %d still running after the agent stopped", pid2)
	}
	nodeReady(corev1.ConditionFalse)
}
