package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"offload/loadtest"
)

const runUsage = `Sends GET requests to URL and reports throughput, latency percentiles and how
requests ended. With -c (the default) it is a closed loop: N connections,
each sending its next request as soon as the last one is answered, as wrk
does. With -rate it is an open loop: requests on a fixed schedule whatever
the server does, latency counted from the scheduled time; "-rate 200:400:800"
offers each rate for an equal third of -d. It measures the client's side;
the server's own view is its /metrics.
`

func runCommand(ctx context.Context, c *cmdline) error {
	cfg := loadtest.Config{Header: map[string]string{}}
	c.IntVar(&cfg.Connections, "c", 32,
		"closed loop: `connections`, each waiting for its last answer before sending the next; excludes -rate")
	c.Var(positiveFloats(&cfg.Rates, ":"), "rate",
		"open loop: requests per second, or `r1:r2:...` for equal steps over -d (default: closed loop)")
	c.IntVar(&cfg.MaxInflight, "max-inflight", loadtest.DefaultMaxInflight,
		"open loop: most outstanding `requests`; sends due beyond it are counted as missed")
	c.BoolVar(&cfg.Close, "close", false,
		"send \"Connection: close\": a new connection per request (default keep-alive)")
	c.DurationVar(&cfg.Duration, "d", 10*time.Second, "measured duration, after -warmup")
	c.DurationVar(&cfg.Warmup, "warmup", time.Second, "load before the measurement, not recorded (0 for none)")
	c.DurationVar(&cfg.Timeout, "timeout", loadtest.DefaultTimeout, "bound on each request, connect included")
	jsonOut := c.Bool("json", false, "print the result as JSON on stdout instead of the summary")
	c.Func("H",
		"extra request `header` \"Name: value\", e.g. -H \"Priority: u=0\" or -H \"X-Request-Timeout: 50ms\"; repeatable",
		func(v string) error {
			name, value, ok := strings.Cut(v, ":")
			if name = strings.TrimSpace(name); !ok || name == "" || strings.ContainsAny(name, " \t") {
				return fmt.Errorf("want \"Name: value\", got %q", v)
			}
			cfg.Header[name] = strings.TrimSpace(value)
			return nil
		})
	if err := c.parseFlags("[run] [flags] URL", runUsage); err != nil {
		return err
	}
	if c.NArg() != 1 {
		return usagef("want exactly one URL argument after the flags, got %d", c.NArg())
	}
	cfg.URL = c.Arg(0)
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return usagef("URL %q must be absolute http, e.g. http://127.0.0.1:8080/data", cfg.URL)
	}
	steps := time.Duration(len(cfg.Rates))
	switch {
	case steps > 0 && c.given("c"):
		return usagef("-c (closed loop) and -rate (open loop) exclude each other")
	case steps > 0 && cfg.MaxInflight < 1:
		return usagef("-max-inflight must be >= 1 (got %d)", cfg.MaxInflight)
	case steps == 0 && c.given("max-inflight"):
		return usagef("-max-inflight applies to the open loop only: add -rate")
	case steps == 0 && cfg.Connections < 1:
		return usagef("-c must be >= 1 (got %d)", cfg.Connections)
	case cfg.Duration <= 0:
		return usagef("-d must be > 0 (got %v)", cfg.Duration)
	case cfg.Timeout <= 0:
		return usagef("-timeout must be > 0 (got %v)", cfg.Timeout)
	case cfg.Warmup < 0:
		return usagef("-warmup must be >= 0 (got %v)", cfg.Warmup)
	case steps > 0 && cfg.Duration/steps <= 0:
		return usagef("-d %v is too short for %d rate steps", cfg.Duration, steps)
	}
	// One loop's settings are the other's mistakes.
	if steps > 0 {
		cfg.Connections = 0
	} else {
		cfg.MaxInflight = 0
	}

	res, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return usageError{err}
	}
	if *jsonOut {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
	} else if err := res.WriteText(c.stdout); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if res.Interrupted {
		return fmt.Errorf("interrupted after %.1fs; the result covers that part only", res.ElapsedSeconds)
	}
	return nil
}
