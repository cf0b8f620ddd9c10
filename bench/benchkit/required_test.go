package benchkit

import (
	"errors"
	"testing"
)

func TestRequired(t *testing.T) {
	got := errors.Join(Required(map[string]string{"kubeconfig": "", "dayops-bin": "bin/dayops", "database-url": ""})...)
	if want := "database-url: empty\nkubeconfig: empty"; got == nil || got.Error() != want {
		t.Errorf("Required = %v, want %q (every empty field, in name order)", got, want)
	}
	if errs := Required(map[string]string{"image": "redis"}); errs != nil {
		t.Errorf("Required = %v, want none", errs)
	}
}
