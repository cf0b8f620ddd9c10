package main

import (
	"slices"
	"testing"
)

func TestEnvList(t *testing.T) {
	for v, want := range map[string][]string{
		"":              nil,
		" ":             nil,
		"a":             {"a"},
		"a,b":           {"a", "b"},
		" a , b ,, c, ": {"a", "b", "c"},
	} {
		t.Setenv("DAYOPS_TEST_LIST", v)
		if got := envList("DAYOPS_TEST_LIST"); !slices.Equal(got, want) {
			t.Errorf("envList(%q) = %q, want %q", v, got, want)
		}
	}
}
