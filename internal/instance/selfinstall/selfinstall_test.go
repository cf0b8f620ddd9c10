package selfinstall_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dayops/dayops/internal/instance/selfinstall"
)

func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	p, err := selfinstall.Install(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode()&0o111 == 0 || fi.Size() == 0 {
		t.Fatalf("installed %s: %v %v", p, fi, err)
	}
	if _, err := selfinstall.Install(dir); err != nil { // a restarted init container
		t.Fatalf("second install: %v", err)
	}
}
