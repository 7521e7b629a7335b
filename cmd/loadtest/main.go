// Command loadtest drives HTTP load at an offload server and runs the
// project's experiments.
//
//	loadtest [run] [flags] URL          one load test against URL
//	loadtest sweep [flags]              throughput and latency against pool size
//	loadtest accept-vs-done [flags]     accepted vs completed under a rising rate
//	loadtest bench [flags]              the performance targets, a report row each
//	loadtest soak [flags]               a long run with abusive clients
//	loadtest overload [flags]           the overload policies side by side
//	loadtest cluster [flags]            a rolling restart of three servers behind HAProxy
//
// Run "loadtest <command> -h" for every flag and its default. Exit status is
// 0 on success, 1 when the test or experiment failed, and 2 for invalid
// flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], &env{
		stdout:   os.Stdout,
		stderr:   os.Stderr,
		terminal: term.IsTerminal(int(os.Stderr.Fd())),
	})
	stop()
	os.Exit(code)
}

// env is what a subcommand may touch of the outside world, so that tests
// can run subcommands in process.
type env struct {
	stdout, stderr io.Writer
	// terminal reports whether stderr is a terminal, where a live status
	// line is welcome; anywhere else it would be noise in a log.
	terminal bool
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the test or experiment could not be completed
	exitUsage   = 2 // invalid command line
)

// command is one subcommand, each in its own file.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, e *env) int
}

func commands() []command {
	return []command{
		{"run", "one load test against a URL (the default command)", runCommand},
		{"sweep", "throughput and latency against worker pool size, per mode and engine", sweepCommand},
		{"accept-vs-done", "connections accepted vs requests completed under a rising rate", acceptVsDoneCommand},
		{"bench", "every performance target measured, one report row each", benchCommand},
		{"soak", "long run at 80% of capacity with abusive clients; resources must stay flat", soakCommand},
		{"overload", "static queue against adaptive overload control, phase after phase, side by side", overloadCommand},
		{"cluster", "three servers behind HAProxy, restarted in turn under load; every request must be answered", clusterCommand},
	}
}

// run dispatches to a subcommand; without one it is "run".
func run(ctx context.Context, args []string, e *env) int {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			usage(e.stdout)
			return exitOK
		}
		for _, c := range commands() {
			if args[0] == c.name {
				return c.run(ctx, args[1:], e)
			}
		}
	}
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	return runCommand(ctx, args, e)
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`Usage: loadtest [command] [flags]

Drives HTTP load at an offload server and runs the project's experiments.
Without a command, the arguments are those of "run".

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-15s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run "loadtest <command> -h" for the flags of a command and their defaults.
`)
	io.WriteString(w, b.String())
}
