package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Size limits of the house (issue 12): a package a reader can hold in mind,
// a function that fits on a screen or two. A function may stay longer when
// its doc comment says why (the words "long because"), e.g. a workflow's
// linear script whose steps would hide their order if split.
const (
	maxPackageLines  = 1500 // non-test .go lines of one directory
	maxFunctionLines = 80   // lines of a function's body
	longReason       = "long because"
)

// moduleFiles returns the main module's non-test Go files by directory,
// relative to the module root. The tools/* modules (their own go.mod),
// testdata and local state are not the module's code.
func moduleFiles(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	byDir := map[string][]string{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || name == "bin" || strings.HasPrefix(name, ".") ||
				fileExists(filepath.Join(p, "go.mod"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			byDir[rel] = append(byDir[rel], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return byDir
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestPackageSize(t *testing.T) {
	for dir, files := range moduleFiles(t) {
		lines := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines += strings.Count(string(b), "\n")
		}
		if lines > maxPackageLines {
			t.Errorf("%s: %d lines of non-test Go code, over %d: split it by responsibility", dir, lines, maxPackageLines)
		}
	}
}

func TestFunctionLength(t *testing.T) {
	fset := token.NewFileSet()
	for _, files := range moduleFiles(t) {
		for _, f := range files {
			file, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			for _, decl := range file.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				n := fset.Position(fn.Body.End()).Line - fset.Position(fn.Body.Pos()).Line
				if n <= maxFunctionLines {
					continue
				}
				if fn.Doc != nil && strings.Contains(strings.ToLower(fn.Doc.Text()), longReason) {
					continue
				}
				pos := fset.Position(fn.Pos())
				t.Errorf("%s: %s has a %d-line body, over %d, and its doc comment gives no reason (%q)",
					pos, fn.Name.Name, n, maxFunctionLines, longReason)
			}
		}
	}
}
