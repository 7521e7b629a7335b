// Package testbin builds the module's commands for tests that need a real
// process: signals, exit codes, resource limits and CPU time are per
// process, so those tests run the binaries the way users do.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
