package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"offload/config"
	"offload/loadtest/experiment"
)

// newFlagSet returns a flag set that reports nothing itself: parse turns its
// errors into one line, and -h into the usage on stdout.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args with fs. It returns the exit status and false when the
// command should stop: 0 after printing the usage for -h, 2 after a
// one-line error for a bad flag.
func parse(fs *flag.FlagSet, args []string, usageText string, e *env) (int, bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(e.stdout)
		fmt.Fprint(e.stdout, usageText)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return exitOK, false
	}
	if err != nil {
		return usageError(e, fs.Name(), err.Error()), false
	}
	return 0, true
}

// usageError prints a one-line error about the command line and returns the
// usage exit status.
func usageError(e *env, name, msg string) int {
	fmt.Fprintf(e.stderr, "loadtest %s: %s (see \"loadtest %s -h\")\n", name, msg, name)
	return exitUsage
}

// failure prints a one-line error about a failed test or experiment and
// returns the failure exit status.
func failure(e *env, name string, err error) int {
	fmt.Fprintf(e.stderr, "loadtest %s: %v\n", name, oneLine(err.Error()))
	return exitFailure
}

// oneLine keeps an error on one line, whatever its wrapped parts contain.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// explicit reports whether the flag name was set on the command line.
func explicit(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// serverSettings parses a -server-args value, flags of the server itself,
// into the server's default settings. owned are the flags the experiment
// sets itself, and those that every started server gets (-addr,
// -log-format, -metrics-addr): giving one is an error rather than a
// setting silently overridden.
func serverSettings(args string, owned ...string) (config.Config, error) {
	s := config.Default()
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.RegisterFlags(fs)
	if err := fs.Parse(strings.Fields(args)); err != nil {
		return s, fmt.Errorf("-server-args: %w", err)
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("-server-args: unexpected %q; give flags only", fs.Args())
	}
	owned = append(owned, "addr", "log-format", "metrics-addr")
	var taken []string
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(owned, f.Name) {
			taken = append(taken, "-"+f.Name)
		}
	})
	if len(taken) > 0 {
		return s, fmt.Errorf("-server-args: the experiment sets %s itself; leave it out", strings.Join(taken, ", "))
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("-server-args: %s", oneLine(err.Error()))
	}
	return s, nil
}

// list is a flag of values separated by sep, each parsed by parse: pool
// sizes "1,2,3,4,8", modes "offload,inline", rates "200:400:800". With
// distinct, a value given twice is an error.
type list[T comparable] struct {
	values   []T
	sep      string
	distinct bool
	parse    func(string) (T, error)
}

func (l *list[T]) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(l.values))
	for i, v := range l.values {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, l.sep)
}

func (l *list[T]) Set(v string) error {
	var out []T
	for _, part := range strings.Split(v, l.sep) {
		part = strings.TrimSpace(part)
		x, err := l.parse(part)
		if err != nil {
			return err
		}
		if l.distinct && slices.Contains(out, x) {
			return fmt.Errorf("%s is listed twice", part)
		}
		out = append(out, x)
	}
	l.values = out
	return nil
}

// positiveInts is a comma-separated list of distinct integers >= 1.
func positiveInts(def []int) *list[int] {
	return &list[int]{values: def, sep: ",", distinct: true, parse: func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%q is not a positive integer", s)
		}
		return n, nil
	}}
}

// choices is a comma-separated list of distinct words from allowed.
func choices(def []string, allowed ...string) *list[string] {
	return &list[string]{values: def, sep: ",", distinct: true, parse: func(s string) (string, error) {
		if !slices.Contains(allowed, s) {
			return "", fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", "))
		}
		return s, nil
	}}
}

// positiveFloats is a list of finite numbers > 0 separated by sep.
func positiveFloats(def []float64, sep string) *list[float64] {
	return &list[float64]{values: def, sep: sep, parse: func(s string) (float64, error) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f > 0) || math.IsInf(f, 1) {
			return 0, fmt.Errorf("%q is not a number > 0", s)
		}
		return f, nil
	}}
}

// positive checks a duration flag that must be > 0.
func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("-%s must be > 0 (got %v)", name, d)
	}
	return nil
}

// resultFiles is an experiment's result, which writes its files.
type resultFiles interface {
	WriteFiles(dir string) error
}

// runExperiment creates the results directory -out/NAME-TIMESTAMP, runs the
// experiment, writes its files and prints its summary. An experiment that
// fails midway still has what it measured written out, as partial results;
// one that measured nothing (run returns a nil result) leaves no directory.
func runExperiment(e *env, cmd, out, name string, run func() (resultFiles, string, error)) int {
	dir, err := experiment.NewResultsDir(out, name)
	if err != nil {
		return failure(e, cmd, err)
	}
	res, summary, runErr := run()
	if res == nil {
		os.Remove(dir) // nothing to keep; fails harmlessly if not empty
		if runErr == nil {
			runErr = errors.New("no runs")
		}
		return failure(e, cmd, runErr)
	}
	if err := res.WriteFiles(dir); err != nil {
		return failure(e, cmd, err)
	}
	fmt.Fprintln(e.stdout)
	fmt.Fprint(e.stdout, summary)
	if runErr != nil {
		fmt.Fprintf(e.stdout, "\npartial results in %s\n", dir)
		return failure(e, cmd, runErr)
	}
	fmt.Fprintf(e.stdout, "\nresults in %s\n", dir)
	return exitOK
}
