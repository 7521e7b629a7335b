// Package wrk runs the wrk HTTP benchmarking tool (version 4.x) with a Lua
// done() hook that prints its results as JSON: exact counts and
// latencies, p99.9 included, rather than its two-decimal text.
package wrk

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

//go:embed report.lua
var reportScript []byte

// jsonPrefix starts the line report.lua prints.
const jsonPrefix = "offload-wrk-json: "

// Result is what wrk measured, from report.lua.
type Result struct {
	// Requests is the number of responses wrk completed; Runtime how long
	// it ran (threads notice the end at their next 100 ms tick); Bytes the
	// response bytes read.
	Requests int64
	Runtime  time.Duration
	Bytes    int64
	Errors   Errors
	Latency  Latency
}

// Errors are wrk's error counts: failed socket operations (after each of
// which wrk reconnects), responses slower than --timeout (left out of the
// latencies), and responses with a status of 400 or more.
type Errors struct {
	Connect, Read, Write, Status, Timeout int64
}

// Socket is the sum of the socket errors, timeouts included.
func (e Errors) Socket() int64 { return e.Connect + e.Read + e.Write + e.Timeout }

// Latency is the latency of the responses wrk recorded.
type Latency struct {
	Min, Max, Mean, Stdev time.Duration
	P50, P90, P99, P99_9  time.Duration
}

// RequestsPerSec is Requests over Runtime.
func (r Result) RequestsPerSec() float64 {
	if r.Runtime <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Runtime.Seconds()
}

// parse finds report.lua's line in wrk's output and decodes it.
func parse(out string) (Result, error) {
	i := strings.LastIndex(out, jsonPrefix)
	if i < 0 {
		return Result{}, errors.New("no results from the report script: wrk did not run it to the end")
	}
	line, _, _ := strings.Cut(out[i+len(jsonPrefix):], "\n")
	var r struct { // times in microseconds
		Requests   int64              `json:"requests"`
		DurationUS float64            `json:"duration_us"`
		Bytes      int64              `json:"bytes"`
		Errors     Errors             `json:"errors"`
		Latency    map[string]float64 `json:"latency_us"`
	}
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return Result{}, fmt.Errorf("results of the report script: %w", err)
	}
	us := func(v float64) time.Duration { return time.Duration(v * float64(time.Microsecond)) }
	l := func(key string) time.Duration { return us(r.Latency[key]) }
	return Result{
		Requests: r.Requests, Runtime: us(r.DurationUS), Bytes: r.Bytes, Errors: r.Errors,
		Latency: Latency{
			Min: l("min"), Max: l("max"), Mean: l("mean"), Stdev: l("stdev"),
			P50: l("p50"), P90: l("p90"), P99: l("p99"), P99_9: l("p99_9"),
		},
	}, nil
}

// ErrNotInstalled is returned by Run when no wrk executable is on PATH.
var ErrNotInstalled = errors.New(`wrk not found in PATH: install it with "apt-get install -y wrk" (Debian/Ubuntu)`)

// Options are the wrk command-line settings Run supports.
type Options struct {
	// Threads is wrk's -t, and Connections its -c, a multiple of Threads.
	Threads, Connections int
	// Duration is wrk's -d, in whole seconds.
	Duration time.Duration
	// Close sends "Connection: close", a new connection per request.
	Close bool
	// Timeout is wrk's --timeout in whole seconds, or zero for wrk's 2s;
	// slower responses are left out of the latencies.
	Timeout time.Duration
	// URL is the http:// or https:// target.
	URL string
}

// Validate reports the first option wrk would reject or misinterpret.
func (o Options) Validate() error {
	switch {
	case o.Threads < 1:
		return fmt.Errorf("wrk options: threads is %d, want at least 1", o.Threads)
	case o.Connections < o.Threads:
		return fmt.Errorf("wrk options: connections (%d) must be >= threads (%d): lower Threads or raise Connections",
			o.Connections, o.Threads)
	case o.Connections%o.Threads != 0:
		return fmt.Errorf("wrk options: connections (%d) must be a multiple of threads (%d): "+
			"wrk opens connections/threads per thread and would silently use only %d",
			o.Connections, o.Threads, o.Connections/o.Threads*o.Threads)
	case o.Duration < time.Second || o.Duration%time.Second != 0:
		return fmt.Errorf("wrk options: duration %v must be a whole number of seconds >= 1s "+
			"(wrk's -d has no sub-second unit)", o.Duration)
	case o.Timeout < 0 || o.Timeout%time.Second != 0:
		return fmt.Errorf("wrk options: timeout %v must be zero (wrk's default, 2s) or a whole number of seconds",
			o.Timeout)
	}
	u, err := url.Parse(o.URL)
	switch {
	case err != nil:
		return fmt.Errorf("wrk options: URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("wrk options: URL %q must be absolute with scheme http or https, "+
			"e.g. http://127.0.0.1:8080/data", o.URL)
	}
	return nil
}

// Args returns the wrk command-line arguments for o, after validating it.
func (o Options) Args() ([]string, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	args := []string{
		"-t", strconv.Itoa(o.Threads),
		"-c", strconv.Itoa(o.Connections),
		"-d", fmt.Sprintf("%ds", o.Duration/time.Second),
	}
	if o.Timeout > 0 {
		args = append(args, "--timeout", fmt.Sprintf("%ds", o.Timeout/time.Second))
	}
	if o.Close {
		args = append(args, "-H", "Connection: close")
	}
	// The URL goes last: wrk takes the first non-option argument as URL.
	return append(args, o.URL), nil
}

// Run executes wrk with opts and the report script and reads the script's
// results. It returns wrk's standard output even when that fails.
// Cancelling ctx kills wrk.
func Run(ctx context.Context, opts Options) (Result, string, error) {
	args, err := opts.Args()
	if err != nil {
		return Result{}, "", err
	}
	dir, err := os.MkdirTemp("", "offload-wrk-")
	if err != nil {
		return Result{}, "", fmt.Errorf("wrk report script: %w", err)
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "report.lua")
	if err := os.WriteFile(script, reportScript, 0o600); err != nil {
		return Result{}, "", fmt.Errorf("wrk report script: %w", err)
	}
	args = append([]string{"-s", script}, args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "wrk", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A child that inherited wrk's pipes must not hold Run past a kill.
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	out := stdout.String()
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return Result{}, "", ErrNotInstalled
	case ctx.Err() != nil:
		return Result{}, out, fmt.Errorf("wrk against %s stopped: %w", opts.URL, ctx.Err())
	case err != nil:
		msg := strings.ReplaceAll(strings.TrimSpace(stderr.String()), "\n", "; ")
		if msg == "" {
			// wrk prints its usage text on stdout when it rejects arguments.
			msg, _, _ = strings.Cut(strings.TrimSpace(out), "\n")
		}
		return Result{}, out, fmt.Errorf("running wrk %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	res, err := parse(out)
	if err != nil {
		return Result{}, out, fmt.Errorf("output of wrk %s: %w", strings.Join(args, " "), err)
	}
	return res, out, nil
}
