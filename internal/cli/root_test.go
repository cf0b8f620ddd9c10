package cli

import (
	"errors"
	"testing"

	"github.com/spf13/cobra"
)

type codeErr int

func (e codeErr) Error() string { return "code" }
func (e codeErr) ExitCode() int { return int(e) }

// TestExecuteExitStatus pins the exit statuses both binaries share: 0,
// an ExitCoder's own code (also when wrapped), else 1; and a bad
// --log-level fails before the command runs.
func TestExecuteExitStatus(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		args []string
		want int
	}{
		"ok":             {want: 0},
		"plain error":    {err: errors.New("boom"), want: 1},
		"exit coder":     {err: codeErr(2), want: 2},
		"wrapped coder":  {err: errors.Join(errors.New("ctx"), codeErr(3)), want: 3},
		"bad log level":  {args: []string{"--log-level", "loud"}, want: 1},
		"good log level": {args: []string{"--log-level", "debug"}, want: 0},
	} {
		t.Run(name, func(t *testing.T) {
			root := NewRoot("x", "test root")
			ran := false
			root.AddCommand(&cobra.Command{Use: "do", RunE: func(*cobra.Command, []string) error { ran = true; return tc.err }})
			root.SetArgs(append([]string{"do"}, tc.args...))
			if got := Execute(root); got != tc.want {
				t.Errorf("Execute = %d, want %d", got, tc.want)
			}
			if wantRan := name != "bad log level"; ran != wantRan {
				t.Errorf("command ran = %v, want %v", ran, wantRan)
			}
		})
	}
}
