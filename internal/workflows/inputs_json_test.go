package workflows

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/dayops/dayops/internal/planner"
	"github.com/google/go-cmp/cmp"
)

// TestInputsKeepTheirJSONShape decodes the input of each recorded history
// into its input type and encodes it again: the JSON must come out the same,
// so that the types may be rearranged in Go (AdmittedPlan is embedded) but
// never change what running and recorded workflows carry.
func TestInputsKeepTheirJSONShape(t *testing.T) {
	for file, in := range map[string]any{
		"scale-shards.json":   &ScaleShardsInput{},
		"scale-replicas.json": &ScaleReplicasInput{},
		"delete.json":         &DeleteClusterInput{},
		"create.json":         &CreateClusterInput{},
	} {
		t.Run(file, func(t *testing.T) {
			raw := startInput(t, filepath.Join("testdata", "histories", file))
			if err := json.Unmarshal(raw, in); err != nil {
				t.Fatal(err)
			}
			again, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("input JSON changed (-recorded +re-encoded):\n%s", diff)
			}
		})
	}
	// The admitted plan and limits stand at the top level.
	b, err := json.Marshal(ScaleReplicasInput{ReplicasPerShard: 2,
		AdmittedPlan: AdmittedPlan{Plan: &planner.Plan{Summary: "s"}, Limits: &planner.DefaultLimits}})
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"meta", "replicasPerShard", "plan", "limits"} {
		if _, ok := top[k]; !ok {
			t.Errorf("%s lacks top-level %q", b, k)
		}
	}
}

// startInput is the first input payload of a recorded history's first event.
func startInput(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Events []struct {
			Attrs struct {
				Input struct {
					Payloads []struct {
						Data []byte `json:"data"`
					} `json:"payloads"`
				} `json:"input"`
			} `json:"workflowExecutionStartedEventAttributes"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Events) == 0 || len(h.Events[0].Attrs.Input.Payloads) == 0 {
		t.Fatalf("%s: no start input", path)
	}
	return h.Events[0].Attrs.Input.Payloads[0].Data
}
