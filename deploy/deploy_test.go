// Package deploy holds the Kubernetes manifests of dayops (kustomize base and
// an example overlay); its test validates them against a real API server.
package deploy

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/devcluster/devtest"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// TestManifestsApply renders the example overlay with the real kubectl and
// applies it with a server-side dry run (admission, schema and RBAC
// validation by kube-apiserver), in a test namespace that stands in for both
// dayops-system and the managed namespace redis-prod.
func TestManifestsApply(t *testing.T) {
	env := devtest.Get(t)
	kubectl := filepath.Join(env.BinDir, "kubectl")
	out, err := exec.Command(kubectl, "kustomize", "overlays/example").Output()
	if err != nil {
		t.Fatalf("kustomize: %v", err)
	}
	var docs []string
	for _, doc := range strings.Split(string(out), "\n---\n") {
		if strings.Contains(doc, "kind: Namespace\n") {
			continue // the test namespace stands in for dayops-system
		}
		doc = strings.ReplaceAll(doc, "dayops-system", env.Namespace)
		docs = append(docs, strings.ReplaceAll(doc, "redis-prod", env.Namespace))
	}
	cmd := exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "apply", "--dry-run=server", "-f", "-")
	cmd.Stdin = strings.NewReader(strings.Join(docs, "\n---\n"))
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, res)
	}
	for _, want := range []string{
		"deployment.apps/dayops-api", "deployment.apps/dayops-worker", "service/dayops-api",
		"serviceaccount/dayops-api", "serviceaccount/dayops-worker",
		"clusterrole.rbac.authorization.k8s.io/dayops-api", "clusterrole.rbac.authorization.k8s.io/dayops-worker",
		"role.rbac.authorization.k8s.io/dayops-api", "role.rbac.authorization.k8s.io/dayops-worker",
		"rolebinding.rbac.authorization.k8s.io/dayops-worker",
		"poddisruptionbudget.policy/dayops-worker", "networkpolicy.networking.k8s.io/dayops-redis",
		"networkpolicy.networking.k8s.io/dayops-worker",
	} {
		if !strings.Contains(string(res), want) {
			t.Errorf("dry run did not accept %s:\n%s", want, res)
		}
	}
}
