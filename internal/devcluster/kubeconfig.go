package devcluster

import (
	"fmt"
	"path/filepath"

	"github.com/dayops/dayops/internal/atomicfile"
	"github.com/dayops/dayops/internal/devcluster/devpki"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfigs writes one kubeconfig per client identity. Certificates
// are referenced by absolute path, not embedded, so the files stay short and
// readable.
func writeKubeconfigs(c Config) error {
	for _, id := range []devpki.Identity{devpki.AdminID, devpki.AgentID, devpki.ControllerManagerID, devpki.SchedulerID} {
		kc := clientcmdapi.NewConfig()
		kc.Clusters["dayops-dev"] = &clientcmdapi.Cluster{
			Server:               c.APIServerURL(),
			CertificateAuthority: filepath.Join(c.PKIDir(), devpki.CACert),
		}
		kc.AuthInfos[id.File] = &clientcmdapi.AuthInfo{
			ClientCertificate: filepath.Join(c.PKIDir(), id.File+".crt"),
			ClientKey:         filepath.Join(c.PKIDir(), id.File+".key"),
		}
		kc.Contexts["dayops-dev"] = &clientcmdapi.Context{Cluster: "dayops-dev", AuthInfo: id.File, Namespace: "default"}
		kc.CurrentContext = "dayops-dev"
		b, err := clientcmd.Write(*kc)
		if err != nil {
			return fmt.Errorf("encode kubeconfig for %s: %w", id.CN, err)
		}
		if err := atomicfile.Write(c.KubeconfigFor(id), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// RESTConfig loads a kubeconfig file.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	return rc, nil
}

// Clientset builds a client-go clientset from a kubeconfig file.
func Clientset(kubeconfig string) (*kubernetes.Clientset, error) {
	rc, err := RESTConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, nil
}
