package main

import (
	"context"
	"fmt"

	"offload/loadtest/bench"
	"offload/loadtest/experiment"
	"offload/loadtest/observe"
)

const benchUsage = `Usage: loadtest bench [flags]

Measures offload against its performance targets and prints one report with
a row per target, its measured value and pass or FAIL: work efficiency,
hand-off cost, acceptor overhead, IO responsiveness (with a pool-size
sweep), overload, connections, and latency at half capacity. Starts the
servers itself on 127.0.0.1. Takes about 6 minutes on 2 cores.

Writes report.md and report.json into -out/NAME-TIMESTAMP/. Exit status 1
when a target failed.

Flags:
`

// benchCommand is "loadtest bench".
func benchCommand(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("bench")
	server := fs.String("server", "bin/server", "offload server `binary`")
	plain := fs.String("plain", "bin/plainserver", "bare fasthttp baseline `binary` (internal/plainserver)")
	procs := fs.Int("procs", 0, "GOMAXPROCS of the servers (0: every CPU)")
	scale := fs.Float64("scale", 1, "multiply every measurement window by this; below 1 for a quick look, not for the report")
	out := fs.String("out", "results", "`directory` under which the results directory is created")
	if code, ok := parse(fs, args, benchUsage, e); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "bench", fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if *scale <= 0 || *procs < 0 {
		return usageError(e, "bench", "-scale must be > 0 and -procs >= 0")
	}
	for _, bin := range []string{*server, *plain} {
		if err := observe.CheckBinary(bin); err != nil {
			return failure(e, "bench", err)
		}
	}
	dir, err := experiment.NewResultsDir(*out, "bench")
	if err != nil {
		return failure(e, "bench", err)
	}
	rep, err := bench.Run(ctx, bench.Config{Server: *server, Plain: *plain, Procs: *procs, Scale: *scale, Progress: e.stderr})
	if err != nil && rep == nil {
		return failure(e, "bench", err)
	}
	if serr := rep.Save(dir); serr != nil {
		return failure(e, "bench", serr)
	}
	fmt.Fprintln(e.stdout)
	if werr := rep.WriteMarkdown(e.stdout); werr != nil {
		return failure(e, "bench", werr)
	}
	fmt.Fprintf(e.stdout, "\nreport in %s\n", dir)
	if err != nil {
		return failure(e, "bench", err)
	}
	if !rep.Passed() {
		return exitFailure
	}
	return exitOK
}
