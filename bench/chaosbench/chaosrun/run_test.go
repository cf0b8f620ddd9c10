package chaosrun

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	err := Config{Shards: 2, Keys: -1, Skip: []string{"nope"}}.Validate()
	if err == nil {
		t.Fatal("a bad config was accepted")
	}
	for _, want := range []string{"shards: 2", "keys: -1", `skip: "nope"`, "dayops-bin: empty", "kubeconfig: empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q: %v", want, err)
		}
	}
	ok := Config{Shards: 3, DayopsBin: "bin/dayops", TemporalAddress: "x", DatabaseURL: "y", Kubeconfig: "z", Skip: []string{"busy"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("a good config: %v", err)
	}
}
