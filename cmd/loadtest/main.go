// Command loadtest drives HTTP load at an offload server and runs the
// project's experiments: "loadtest [run] [flags] URL" is one load test,
// "loadtest help" lists the experiments, and "loadtest <command> -h" gives
// a command's flags and their defaults. Exit status is 0 on success, 1 when
// the test or experiment failed, and 2 for invalid flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	e := &env{stdout: os.Stdout, stderr: os.Stderr}
	code := run(ctx, os.Args[1:], e)
	stop()
	os.Exit(code)
}

// env is what a subcommand may touch of the outside world, so that tests
// can run it in process.
type env struct{ stdout, stderr io.Writer }

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the test or experiment could not be completed
	exitUsage   = 2 // invalid command line
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, c *cmdline) error
}

func commands() []command {
	return []command{
		{"run", "one load test against a URL (the default command)", runCommand},
		{"sweep", "throughput and latency against worker pool size, per mode and engine", sweepCommand},
		{"accept-vs-done", "connections accepted vs requests completed under a rising rate", acceptVsDoneCommand},
		{"bench", "every performance target measured, one report row each", benchCommand},
		{"soak", "long run at 80% of capacity with abusive clients; resources must stay flat", soakCommand},
		{"overload", "static queue against adaptive overload control, phase after phase, side by side", overloadCommand},
	}
}

// run dispatches to a subcommand (by default "run") and turns its error
// into a line on stderr and the exit status.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(e.stdout)
		return exitOK
	}
	cmd := command{name: "run", run: runCommand}
	for _, c := range commands() {
		if args[0] == c.name {
			cmd, args = c, args[1:]
			break
		}
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseFlags returns the errors and prints the usage
	err := cmd.run(ctx, &cmdline{FlagSet: fs, env: e, args: args})
	var bad usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &bad):
		fmt.Fprintf(e.stderr, "loadtest %s: %s (see \"loadtest %s -h\")\n", cmd.name, oneLine(bad.Error()), cmd.name)
		return exitUsage
	case !errors.Is(err, errFailed):
		fmt.Fprintf(e.stderr, "loadtest %s: %s\n", cmd.name, oneLine(err.Error()))
	}
	return exitFailure
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: loadtest [command] [flags]

Drives HTTP load at an offload server and runs the project's experiments.
Without a command, the arguments are those of "run".

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"loadtest <command> -h\" for the flags of a command and their defaults.\n")
}
