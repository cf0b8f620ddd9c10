package opsbench

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := Config{Modes: []string{"dev", "server"}, Workers: []int{1, 2}, Clusters: 3, OpsPerCluster: 4, ValueSize: 100,
		Root: "/r", DayopsBin: "bin/dayops", DatabaseURL: "postgres://x", Kubeconfig: "/k"}
	tests := map[string]struct {
		edit func(*Config)
		want []string // substrings of the error; none: valid
	}{
		"good":             {edit: func(*Config) {}},
		"memory run only":  {edit: func(c *Config) { c.OpsPerCluster, c.Workers, c.MigrateKeys = 0, nil, 1000 }},
		"unknown mode":     {edit: func(c *Config) { c.Modes = []string{"cloud"} }, want: []string{`temporal: "cloud" is not dev or server`}},
		"workers not up":   {edit: func(c *Config) { c.Workers = []int{2, 1} }, want: []string{"workers: [2 1]"}},
		"workers zero":     {edit: func(c *Config) { c.Workers = []int{0} }, want: []string{"workers: [0]"}},
		"nothing to run":   {edit: func(c *Config) { c.OpsPerCluster = 0 }, want: []string{"nothing to run"}},
		"every bad field":  {edit: func(c *Config) { c.ValueSize, c.Kubeconfig, c.MigrateKeys = 0, "", -1 }, want: []string{"value-size: 0", "kubeconfig: empty", "migrate-keys: -1"}},
		"batch no cluster": {edit: func(c *Config) { c.Clusters = 0 }, want: []string{"at least one worker count and one cluster"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %v, want it to contain %q", err, w)
				}
			}
		})
	}
}
