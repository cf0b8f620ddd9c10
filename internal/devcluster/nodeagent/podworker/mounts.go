package podworker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dayops/dayops/internal/devcluster/nodeagent/podproc"
	corev1 "k8s.io/api/core/v1"
)

// containerMounts turns a container's volumeMounts into bind mounts.
func containerMounts(c *corev1.Container, vols map[string]string) ([]podproc.Mount, error) {
	var out []podproc.Mount
	for _, m := range c.VolumeMounts {
		src, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: no such volume", m.Name)
		}
		if m.SubPath != "" {
			if strings.Contains(m.SubPath, "..") || filepath.IsAbs(m.SubPath) {
				return nil, fmt.Errorf("volumeMount %q: invalid subPath %q", m.Name, m.SubPath)
			}
			src = filepath.Join(src, m.SubPath)
			if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, podproc.Mount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly})
	}
	return out, nil
}
