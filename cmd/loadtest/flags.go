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

// intList is a comma-separated list of positive integers, such as pool
// sizes "1,2,3,4,8".
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out []int
	for _, part := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", part)
		}
		if slices.Contains(out, n) {
			return fmt.Errorf("%d is listed twice", n)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

// choiceList is a comma-separated list of distinct words from a fixed set,
// such as modes "offload,inline".
type choiceList struct {
	values  []string
	allowed []string
}

func (l *choiceList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.values, ",")
}

func (l *choiceList) Set(v string) error {
	var out []string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if !slices.Contains(l.allowed, part) {
			return fmt.Errorf("%q is not one of %s", part, strings.Join(l.allowed, ", "))
		}
		if slices.Contains(out, part) {
			return fmt.Errorf("%q is listed twice", part)
		}
		out = append(out, part)
	}
	l.values = out
	return nil
}

// rateList is open-loop request rates in req/s: one rate, or several
// separated by ':' for equal steps ("200:400:800").
type rateList []float64

func (l *rateList) String() string {
	s := make([]string, len(*l))
	for i, r := range *l {
		s[i] = strconv.FormatFloat(r, 'g', -1, 64)
	}
	return strings.Join(s, ":")
}

func (l *rateList) Set(v string) error {
	out, err := parseFloats(v, ":")
	if err != nil {
		return err
	}
	*l = out
	return nil
}

// floatList is a comma-separated list of positive numbers.
type floatList []float64

func (l *floatList) String() string {
	s := make([]string, len(*l))
	for i, r := range *l {
		s[i] = strconv.FormatFloat(r, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

func (l *floatList) Set(v string) error {
	out, err := parseFloats(v, ",")
	if err != nil {
		return err
	}
	*l = out
	return nil
}

func parseFloats(v, sep string) ([]float64, error) {
	var out []float64
	for _, part := range strings.Split(v, sep) {
		f, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || !(f > 0) || math.IsInf(f, 1) {
			return nil, fmt.Errorf("%q is not a number > 0", part)
		}
		out = append(out, f)
	}
	return out, nil
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
