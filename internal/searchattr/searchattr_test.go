package searchattr

import (
	"slices"
	"testing"
)

func TestNamesSortedAndUnique(t *testing.T) {
	if !slices.IsSorted(Names) || len(slices.Compact(slices.Clone(Names))) != len(Names) || len(Names) != 5 {
		t.Fatalf("Names = %v: want the five attributes, sorted, once each", Names)
	}
}
