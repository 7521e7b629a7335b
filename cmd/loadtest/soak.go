package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"offload/loadtest/bench"
	"offload/loadtest/experiment"
	"offload/loadtest/observe"
)

const soakUsage = `Usage: loadtest soak [flags]

Runs the server at a steady share of its measured capacity for a long time
(open loop, keep-alive) while bursts of slowloris connections and of clients
that reset mid-request come and go, and checks that every request is
answered and that the server's goroutines, open descriptors and memory stay
flat. Prints the checks and a sample every -sample; writes soak.json into
-out/soak-TIMESTAMP/. Exit status 1 when a check failed.

Flags:
`

// soakCommand is "loadtest soak".
func soakCommand(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("soak")
	server := fs.String("server", "bin/server", "offload server `binary`")
	procs := fs.Int("procs", 0, "GOMAXPROCS of the server (0: every CPU)")
	d := fs.Duration("d", 10*time.Minute, "how long the load runs")
	load := fs.Float64("load", 0.8, "offered /data rate as a `fraction` of the measured capacity")
	burstEvery := fs.Duration("burst-every", 30*time.Second, "time between bursts of abusive clients")
	burstSize := fs.Int("burst-size", 200, "slowloris and resetting `connections` per burst, of each kind")
	sample := fs.Duration("sample", 10*time.Second, "time between samples of goroutines, fds and RSS")
	out := fs.String("out", "results", "`directory` under which the results directory is created")
	if code, ok := parse(fs, args, soakUsage, e); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "soak", fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if *d <= 0 || *load <= 0 || *burstEvery <= 0 || *burstSize <= 0 || *sample <= 0 || *procs < 0 {
		return usageError(e, "soak", "-d, -load, -burst-every, -burst-size and -sample must be > 0")
	}
	if err := observe.CheckBinary(*server); err != nil {
		return failure(e, "soak", err)
	}
	dir, err := experiment.NewResultsDir(*out, "soak")
	if err != nil {
		return failure(e, "soak", err)
	}
	rep, err := bench.Soak(ctx, bench.SoakConfig{
		Server: *server, Procs: *procs, Duration: *d, Load: *load,
		BurstEvery: *burstEvery, BurstSize: *burstSize, SampleEvery: *sample, Progress: e.stderr,
	})
	if err != nil {
		return failure(e, "soak", err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "soak.json"), append(js, '\n'), 0o644)
	}
	if err != nil {
		return failure(e, "soak", err)
	}
	fmt.Fprintf(e.stdout, "\nsoak: %v at %.0f req/s (%.0f%% of %.0f req/s capacity), %d abuse bursts, %d requests %v, p99 %.1f ms\n",
		time.Duration(rep.DurationS*float64(time.Second)), rep.Rate, 100*rep.Rate/rep.Capacity, rep.Capacity, rep.Bursts, rep.Requests, rep.Status, rep.P99Ms)
	fmt.Fprintf(e.stdout, "%-12s %10s %8s %8s %11s\n", "", "goroutines", "fds", "RSS MB", "connections")
	for _, s := range []struct {
		name string
		s    bench.Sample
	}{{"idle before", rep.IdleBefore}, {"early peak", rep.EarlyPeak}, {"late peak", rep.LatePeak}, {"idle after", rep.IdleAfter}} {
		fmt.Fprintf(e.stdout, "%-12s %10.0f %8.0f %8.1f %11.0f\n", s.name, s.s.Goroutines, s.s.FDs, s.s.RSSMB, s.s.Active)
	}
	for _, c := range rep.Checks {
		fmt.Fprintln(e.stdout, c)
	}
	fmt.Fprintf(e.stdout, "report in %s\n", dir)
	if !rep.Pass {
		return exitFailure
	}
	return exitOK
}
