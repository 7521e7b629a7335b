package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// workShare takes a CPU profile of the server at debugAddr over d and
// returns the share of its CPU samples spent in the work
// (offload/work.Compute and what it calls). Both sides of the ratio are
// sampled at the same moments, so unlike CPU seconds against a benchmark
// run at another time, it does not move when the machine's speed drifts.
// It needs the go command, for "go tool pprof".
func workShare(ctx context.Context, debugAddr string, d time.Duration) (float64, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return 0, fmt.Errorf("profile share needs the go command: %w", err)
	}
	secs := max(1, int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+debugAddr+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("fetch CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("fetch CPU profile: %s", resp.Status)
	}
	f, err := os.CreateTemp("", "offload-bench-*.pprof")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return 0, fmt.Errorf("save CPU profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=500", f.Name()).Output()
	if err != nil {
		return 0, fmt.Errorf("go tool pprof: %w", err)
	}
	return parseCumShare(string(out), "offload/work.Compute")
}

// parseCumShare finds fn in "go tool pprof -top" output and returns its
// cumulative share of the samples (the cum% column) as a fraction.
func parseCumShare(top, fn string) (float64, error) {
	for _, line := range strings.Split(top, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 6 && fields[5] == fn {
			pct, err := strconv.ParseFloat(strings.TrimSuffix(fields[4], "%"), 64)
			if err != nil {
				return 0, fmt.Errorf("parse pprof line %q: %w", line, err)
			}
			return pct / 100, nil
		}
	}
	return 0, fmt.Errorf("%s not in the CPU profile", fn)
}
