package migratebench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseScenariosAndTools(t *testing.T) {
	tests := map[string]struct {
		scenarios, tools string
		want             Config
		wantErr          string
	}{
		"both":             {scenarios: "out,in", tools: "redis-cli,dayops", want: Config{Out: true, In: true, Tools: []string{"redis-cli", "dayops"}}},
		"spaces":           {scenarios: " in ", tools: " dayops", want: Config{In: true, Tools: []string{"dayops"}}},
		"unknown scenario": {scenarios: "sideways", tools: "dayops", wantErr: `--scenarios: unknown "sideways" (want out, in)`},
		"unknown tool":     {scenarios: "out", tools: "redis-trib", wantErr: `--tools: unknown "redis-trib" (want dayops, redis-cli)`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var c Config
			err := c.ParseScenariosAndTools(tc.scenarios, tc.tools)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want.Tools, c.Tools); diff != "" || c.Out != tc.want.Out || c.In != tc.want.In {
				t.Errorf("out %v in %v tools %v, want out %v in %v tools %v", c.Out, c.In, c.Tools, tc.want.Out, tc.want.In, tc.want.Tools)
			}
		})
	}
}
