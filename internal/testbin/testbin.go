// Package testbin builds the module's commands for tests that need a real
// process: signals, exit codes, resource limits and CPU time are per
// process, so those tests run the binaries the way users do.
package testbin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Build compiles each package (a path from the module root, such as
// "./cmd/server") into a fresh temporary directory and returns the
// binaries' paths, in order, and a function that removes them.
func Build(pkgs ...string) (bins []string, cleanup func(), err error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("find the module root (go env GOMOD): %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir, err := os.MkdirTemp("", "offload-testbin")
	if err != nil {
		return nil, nil, fmt.Errorf("build test binaries: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	for _, pkg := range pkgs {
		bin := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("build %s: %w\n%s", pkg, err, out)
		}
		bins = append(bins, bin)
	}
	return bins, cleanup, nil
}

// Main builds pkgs, passes their paths to use, runs the tests and, when
// they pass, fails the run if a goroutine outlived them (goleak). It
// returns the exit status: os.Exit(testbin.Main(m, use, "./cmd/server")).
func Main(m *testing.M, use func(bins []string), pkgs ...string) int {
	bins, cleanup, err := Build(pkgs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	use(bins)
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			return 1
		}
	}
	return code
}

// Context returns t's context, ended a little before the test's deadline
// so that a hung start, stop or experiment fails with its own error rather
// than the test binary's panic.
func Context(t *testing.T) context.Context {
	t.Helper()
	ctx := t.Context()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-5*time.Second))
		t.Cleanup(cancel)
	}
	return ctx
}
