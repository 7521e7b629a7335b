package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"offload/config"
	"offload/internal/testbin"
	"offload/loadtest"
	"offload/loadtest/observe"
)

// serverBin is the real server, built once for the tests that run load.
var serverBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m, func(bins []string) { serverBin = bins[0] }, "./cmd/server"))
}

// invoke runs the command line in process and returns its exit status,
// stdout and stderr.
func invoke(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	code := run(ctx, args, &env{stdout: &stdout, stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

func TestUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "server")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: loadtest [command]"},
		{[]string{"-c", "x", "http://127.0.0.1:1/data"}, `loadtest run: invalid value "x" for flag -c`},
		{[]string{"run", "-c", "0", "http://127.0.0.1:1/data"}, "loadtest run: -c must be >= 1"},
		{[]string{"run", "-nope"}, "loadtest run: flag provided but not defined: -nope"},
		{[]string{"run"}, "want exactly one URL argument"},
		{[]string{"run", "https://127.0.0.1/data"}, "must be absolute http"},
		{[]string{"run", "-c", "4", "-rate", "100", "http://127.0.0.1:1/data"}, "-c (closed loop) and -rate (open loop) exclude each other"},
		{[]string{"run", "-rate", "100:0", "http://127.0.0.1:1/data"}, `invalid value "100:0" for flag -rate: "0" is not a number > 0`},
		{[]string{"run", "-max-inflight", "10", "http://127.0.0.1:1/data"}, "-max-inflight applies to the open loop only"},
		{[]string{"run", "-d", "0s", "http://127.0.0.1:1/data"}, "-d must be > 0"},
		{[]string{"run", "-rate", "1:2:3", "-d", "2ns", "http://127.0.0.1:1/data"}, "too short for 3 rate steps"},
		{[]string{"sweep", "-pools", "1,x"}, `invalid value "1,x" for flag -pools: "x" is not a positive integer`},
		{[]string{"sweep", "-pools", "2,2"}, "2 is listed twice"},
		{[]string{"sweep", "-modes", "offload,turbo"}, `"turbo" is not one of offload, inline`},
		{[]string{"sweep", "-engines", "ab"}, `"ab" is not one of builtin, wrk`},
		{[]string{"sweep", "-engines", "wrk", "-d", "1500ms"}, "wrk takes whole seconds only"},
		{[]string{"sweep", "-engines", "wrk", "-c", "5", "-wrk-threads", "2"}, "must be a multiple of wrk threads"},
		{[]string{"sweep", "-procs", "0"}, "GOMAXPROCS (procs) must be >= 1"},
		{[]string{"sweep", "-repeat", "0"}, "repeat must be >= 1"},
		{[]string{"sweep", "-work", "0s"}, "-work must be > 0"},
		{[]string{"sweep", "-server-args", "-pool 3"}, "-server-args: the experiment sets -pool itself; leave it out"},
		{[]string{"sweep", "-server-args", "-queue=-1"}, "-server-args: -queue -1: need 0 or more"},
		{[]string{"sweep", "-server-args", "-queue x"}, `-server-args: invalid value "x" for flag -queue`},
		{[]string{"sweep", "-server-args", "-h"}, "-server-args: flag: help requested"},
		{[]string{"sweep", "-name", "a/b"}, "must be a plain file name"},
		{[]string{"sweep", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"accept-vs-done", "-rates", "100:200", "-factors", "1,2"}, "-rates and -factors exclude each other"},
		{[]string{"accept-vs-done", "-factors", "1,-2"}, `"-2" is not a number > 0`},
		{[]string{"accept-vs-done", "-step", "0s"}, "step must be > 0"},
		{[]string{"accept-vs-done", "-offload-pool", "0"}, "offload pool size must be >= 1"},
		{[]string{"accept-vs-done", "-server-args", "-stats-interval=1s -addr :1"}, "-server-args: the experiment sets -addr, -stats-interval itself; leave it out"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := tt.args
			if len(args) > 0 && (args[0] == "sweep" || args[0] == "accept-vs-done") {
				// A missing server must not be what fails: flags come first.
				args = append([]string{args[0], "-server", missing}, args[1:]...)
			}
			code, stdout, stderr := invoke(t, args...)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q lacks %q", stderr, tt.want)
			}
			if tt.args != nil && strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", stderr)
			}
		})
	}
}

func TestMissingServerIsOneActionableLine(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "bin", "server")
	for _, cmd := range []string{"sweep", "accept-vs-done"} {
		code, _, stderr := invoke(t, cmd, "-server", missing, "-out", t.TempDir())
		want := fmt.Sprintf("loadtest %s: %s not found: run make build first\n", cmd, missing)
		if code != exitFailure || stderr != want {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", cmd, code, stderr, exitFailure, want)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, tt := range []struct {
		cmd   string
		flags []string
	}{
		{"run", []string{"-c", "-rate", "-max-inflight", "-close", "-d", "-warmup", "-timeout", "-json"}},
		{"sweep", []string{"-pools", "-modes", "-engines", "-procs", "-c", "-d", "-warmup", "-timeout", "-work", "-close", "-wrk-threads", "-repeat", "-probe-rate", "-server", "-server-args", "-out", "-name"}},
		{"accept-vs-done", []string{"-modes", "-offload-procs", "-offload-pool", "-inline-procs", "-rates", "-factors", "-capacity-time", "-step", "-max-inflight", "-timeout", "-scrape-interval", "-work", "-probe-rate", "-server", "-server-args", "-out", "-name"}},
	} {
		code, stdout, stderr := invoke(t, tt.cmd, "-h")
		if code != exitOK || stderr != "" {
			t.Errorf("%s -h: exit %d, stderr %q", tt.cmd, code, stderr)
		}
		if !strings.HasPrefix(stdout, "Usage: loadtest ") {
			t.Errorf("%s -h: usage starts %q", tt.cmd, stdout[:min(40, len(stdout))])
		}
		for _, f := range tt.flags {
			if !strings.Contains(stdout, "\n  "+f+" ") && !strings.Contains(stdout, "\n  "+f+"\n") {
				t.Errorf("%s -h does not document %s", tt.cmd, f)
			}
		}
	}
	if code, stdout, _ := invoke(t, "help"); code != exitOK || !strings.Contains(stdout, "accept-vs-done") {
		t.Errorf("help: exit %d, %q", code, stdout)
	}
}

// TestHelpGolden pins the -h output of every command, and the list of
// commands, to testdata/help/NAME.txt. The sweep's -procs default is this
// machine's CPU count, NCPU in the file.
func TestHelpGolden(t *testing.T) {
	for _, c := range append(commands(), command{name: "loadtest"}) {
		args := []string{c.name, "-h"}
		if c.name == "loadtest" {
			args = []string{"help"}
		}
		code, stdout, stderr := invoke(t, args...)
		if code != exitOK || stderr != "" {
			t.Errorf("%s: exit %d, stderr %q", args, code, stderr)
		}
		ncpu := fmt.Sprintf("CPU count) (default %d)", runtime.NumCPU())
		got := strings.Replace(stdout, ncpu, "CPU count) (default NCPU)", 1)
		want, err := os.ReadFile(filepath.Join("testdata", "help", c.name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s: output differs from testdata/help/%s.txt:\n%s", args, c.name, got)
		}
	}
	code, stdout, stderr := invoke(t)
	if want, _ := os.ReadFile("testdata/help/loadtest.txt"); code != exitUsage || stdout != "" || stderr != string(want) {
		t.Errorf("no arguments: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestErrorLines pins the whole message and the exit status of command
// lines that every command rejects, or that fail before any load.
func TestErrorLines(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "server")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "-warmup", "-1s", "http://127.0.0.1:1/"}, exitUsage, "loadtest run: -warmup must be >= 0 (got -1s)"},
		{[]string{"run", "-rate", "10", "-max-inflight", "0", "http://127.0.0.1:1/"}, exitUsage, "loadtest run: -max-inflight must be >= 1 (got 0)"},
		{[]string{"run", "-H", "bad", "http://127.0.0.1:1/"}, exitUsage, `loadtest run: invalid value "bad" for flag -H: want "Name: value", got "bad"`},
		{[]string{"run", "-timeout", "0", "http://127.0.0.1:1/"}, exitUsage, "loadtest run: -timeout must be > 0 (got 0s)"},
		{[]string{"run", "a", "b"}, exitUsage, "loadtest run: want exactly one URL argument after the flags, got 2"},
		{[]string{"nosuch"}, exitUsage, `loadtest run: URL "nosuch" must be absolute http, e.g. http://127.0.0.1:8080/data`},
		{[]string{"sweep", "-bogus"}, exitUsage, "loadtest sweep: flag provided but not defined: -bogus"},
		{[]string{"sweep", "-name="}, exitUsage, `loadtest sweep: -name "" must be a plain file name`},
		{[]string{"accept-vs-done", "-work", "0"}, exitUsage, "loadtest accept-vs-done: -work must be > 0 (got 0s)"},
		{[]string{"accept-vs-done", "x"}, exitUsage, `loadtest accept-vs-done: unexpected arguments ["x"]`},
		{[]string{"overload", "-policies", "x"}, exitUsage,
			`loadtest overload: invalid value "x" for flag -policies: "x" is not one of static, adaptive/fifo, adaptive/lifo, adaptive/adaptive`},
		{[]string{"overload", "-scale", "0"}, exitUsage, "loadtest overload: scale 0: need a positive factor"},
		{[]string{"overload", "-procs", "-1"}, exitUsage, "loadtest overload: procs -1: need 0 (every CPU) or more"},
		{[]string{"overload", "-name", "a/b"}, exitUsage, `loadtest overload: -name "a/b" must be a plain file name`},
		{[]string{"overload", "extra"}, exitUsage, `loadtest overload: unexpected arguments ["extra"]`},
		{[]string{"bench", "-scale", "0"}, exitUsage, "loadtest bench: -scale must be > 0 and -procs >= 0"},
		{[]string{"bench", "-procs", "-1"}, exitUsage, "loadtest bench: -scale must be > 0 and -procs >= 0"},
		{[]string{"bench", "extra"}, exitUsage, `loadtest bench: unexpected arguments ["extra"]`},
		{[]string{"soak", "-d", "0"}, exitUsage, "loadtest soak: -d, -load, -burst-every, -burst-size and -sample must be > 0"},
		{[]string{"soak", "-procs", "-1"}, exitUsage, "loadtest soak: -d, -load, -burst-every, -burst-size and -sample must be > 0"},
		{[]string{"soak", "-load", "x"}, exitUsage, `loadtest soak: invalid value "x" for flag -load: parse error`},
		{[]string{"soak", "extra"}, exitUsage, `loadtest soak: unexpected arguments ["extra"]`},
		{[]string{"overload", "-server", missing}, exitFailure, "loadtest overload: " + missing + " not found: run make build first"},
		{[]string{"bench", "-server", missing}, exitFailure, "loadtest bench: " + missing + " not found: run make build first"},
		{[]string{"soak", "-server", missing}, exitFailure, "loadtest soak: " + missing + " not found: run make build first"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			want := tt.want + "\n"
			if tt.code == exitUsage {
				name := strings.TrimSuffix(strings.Fields(tt.want)[1], ":")
				want = fmt.Sprintf("%s (see \"loadtest %s -h\")\n", tt.want, name)
			}
			code, stdout, stderr := invoke(t, tt.args...)
			if code != tt.code || stdout != "" || stderr != want {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, nothing, %q", code, stdout, stderr, tt.code, want)
			}
		})
	}
}

// startServer starts the real server for a test.
func startServer(t *testing.T) *observe.Server {
	t.Helper()
	s := config.Default()
	s.Work = time.Millisecond
	srv, err := observe.Start(t.Context(), observe.Config{Binary: serverBin, Server: s, Procs: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func TestRunSummary(t *testing.T) {
	srv := startServer(t)
	code, stdout, stderr := invoke(t, "-c", "2", "-d", "500ms", "-warmup", "0", srv.URL("/data"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Closed loop with 2 connections", "Throughput", "Status      200: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
}

func TestRunJSONAndQuiet(t *testing.T) {
	srv := startServer(t)
	code, stdout, stderr := invoke(t, "-json", "-rate", "50:100", "-d", "1s", "-warmup", "0", srv.URL("/data"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr %q, want nothing", stderr)
	}
	var res loadtest.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not a JSON result: %v\n%s", err, stdout)
	}
	if res.Mode != loadtest.Open || len(res.Rates) != 2 || res.Answered < 50 || res.Outcomes.Errors() != 0 {
		t.Errorf("result: mode %s, rates %v, %d answered, %d errors", res.Mode, res.Rates, res.Answered, res.Outcomes.Errors())
	}
}

func TestSweepCommand(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := invoke(t, "sweep", "-server", serverBin, "-pools", "1", "-modes", "offload", "-procs", "2",
		"-c", "2", "-d", "1s", "-warmup", "0", "-work", "1ms", "-probe-rate", "5", "-out", out, "-name", "tiny")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "run 1 of 1 (mode=offload pool=1 engine=builtin)\n") {
		t.Errorf("progress: %q", stderr)
	}
	if !strings.Contains(stdout, "\n| offload | builtin | 1 | ") {
		t.Errorf("table:\n%s", stdout)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "tiny-*"))
	if len(dirs) != 1 || !strings.HasSuffix(strings.TrimSpace(stdout), "results in "+dirs[0]) {
		t.Fatalf("results directories %v; stdout ends %q", dirs, stdout[max(0, len(stdout)-80):])
	}
	for _, f := range []string{"results.csv", "summary.csv", "results.json", "table.md", "sweep.png"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Error(err)
		}
	}
}
