package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// cmdline is a subcommand's command line and the world it runs in; out
// and prefix are -out and -name, for the commands that write results.
type cmdline struct {
	*flag.FlagSet
	*env
	args        []string
	out, prefix string
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errFailed is returned by a command that failed and has printed why.
var errFailed = errors.New("failed")

// parseFlags parses the flags; for -h it prints the usage on stdout and
// returns flag.ErrHelp.
func (c *cmdline) parseFlags(synopsis, usage string) error {
	err := c.Parse(c.args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.SetOutput(c.stdout)
		fmt.Fprintf(c.stdout, "Usage: loadtest %s\n\n%s\nFlags:\n", synopsis, usage)
		c.PrintDefaults()
	case err != nil:
		err = usageError{err}
	}
	return err
}

// parse is parseFlags for a command without arguments; -name must be a
// plain file name.
func (c *cmdline) parse(usage string) error {
	if err := c.parseFlags(c.Name()+" [flags]", usage); err != nil {
		return err
	}
	if c.NArg() > 0 {
		return usagef("unexpected arguments %q", c.Args())
	}
	if c.Lookup("name") != nil && (c.prefix == "" || strings.ContainsAny(c.prefix, `/\`)) {
		return usagef("-name %q must be a plain file name", c.prefix)
	}
	return nil
}

// given reports whether the flag name was set on the command line.
func (c *cmdline) given(name string) bool {
	set := false
	c.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

const outUsage = "`directory` under which the results directory is created"

// results adds -out and -name: results go into -out/NAME-TIMESTAMP.
func (c *cmdline) results(name string) {
	c.StringVar(&c.out, "out", "results", outUsage)
	c.StringVar(&c.prefix, "name", name, "results directory `prefix`: -out/NAME-TIMESTAMP")
}

// oneLine keeps an error on one line, whatever its wrapped parts contain.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// list is a flag of values separated by sep that sets *dst, such as
// "1,2,3,4,8" or "200:400:800"; with distinct, no value twice.
type list[T comparable] struct {
	dst      *[]T
	sep      string
	distinct bool
	parse    func(string) (T, error)
}

func (l *list[T]) String() string {
	if l.dst == nil {
		return ""
	}
	s := make([]string, len(*l.dst))
	for i, v := range *l.dst {
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
	*l.dst = out
	return nil
}

// positiveInts is a comma-separated list of distinct integers >= 1.
func positiveInts(dst *[]int) *list[int] {
	return &list[int]{dst: dst, sep: ",", distinct: true, parse: func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%q is not a positive integer", s)
		}
		return n, nil
	}}
}

// choices is a comma-separated list of distinct words from allowed.
func choices[T ~string](dst *[]T, allowed ...string) *list[T] {
	return &list[T]{dst: dst, sep: ",", distinct: true, parse: func(s string) (T, error) {
		if !slices.Contains(allowed, s) {
			return "", fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", "))
		}
		return T(s), nil
	}}
}

// positiveFloats is a list of finite numbers > 0 separated by sep.
func positiveFloats(dst *[]float64, sep string) *list[float64] {
	return &list[float64]{dst: dst, sep: sep, parse: func(s string) (float64, error) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f > 0) || math.IsInf(f, 1) {
			return 0, fmt.Errorf("%q is not a number > 0", s)
		}
		return f, nil
	}}
}
