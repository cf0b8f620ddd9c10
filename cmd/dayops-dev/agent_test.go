package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDevAgentFlags pins the flags `dayops-dev dev up` passes to the agent.
func TestDevAgentFlags(t *testing.T) {
	cmd := newDevAgentCmd()
	want := map[string]string{
		"kubeconfig":     ".dayops/agent.kubeconfig",
		"state-dir":      ".dayops/agent",
		"pki-dir":        ".dayops/pki",
		"zones":          "3",
		"nodes-per-zone": "2",
		"kubelet-port":   "10250",
		"storage-class":  "dayops-local",
		"volume-refresh": "30s",
		"dayops-binary":  "",
	}
	got := map[string]string{}
	for name := range want {
		f := cmd.Flags().Lookup(name)
		if f == nil {
			t.Errorf("no --%s flag", name)
			continue
		}
		got[name] = f.DefValue
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flag defaults (-want +got):\n%s", diff)
	}
	var subs []string
	for _, c := range cmd.Commands() {
		subs = append(subs, c.Name())
	}
	if diff := cmp.Diff([]string{"pod-exec", "reap"}, subs); diff != "" {
		t.Errorf("subcommands (-want +got):\n%s", diff)
	}
}
