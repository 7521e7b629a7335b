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

const runUsage = `Usage: loadtest [run] [flags] URL

Sends GET requests to URL and reports throughput, latency percentiles and how
requests ended. With -c (the default) it is a closed loop: N connections,
each sending its next request as soon as the last one is answered, as wrk
does. With -rate it is an open loop: requests on a fixed schedule whatever
the server does, latency counted from the scheduled time; "-rate 200:400:800"
offers each rate for an equal third of -d. While it runs, the target's
/metrics is scraped (see -scrape-interval) and summarised at the end.

On a terminal, stderr shows a live line each second.

Flags:
`

// runCommand is "loadtest run": one load test against a URL.
func runCommand(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("run")
	conns := fs.Int("c", 32, "closed loop: `connections`, each waiting for its last answer before sending the next; excludes -rate")
	rates := positiveFloats(nil, ":")
	fs.Var(rates, "rate", "open loop: requests per second, or `r1:r2:...` for equal steps over -d (default: closed loop)")
	maxInflight := fs.Int("max-inflight", loadtest.DefaultMaxInflight, "open loop: most outstanding `requests`; sends due beyond it are counted as missed")
	closeEach := fs.Bool("close", false, "send \"Connection: close\": a new connection per request (default keep-alive)")
	duration := fs.Duration("d", 10*time.Second, "measured duration, after -warmup")
	warmup := fs.Duration("warmup", time.Second, "load before the measurement, not recorded (0 for none)")
	timeout := fs.Duration("timeout", loadtest.DefaultTimeout, "bound on each request, connect included")
	jsonOut := fs.Bool("json", false, "print the result as JSON on stdout instead of the summary")
	scrapeInterval := fs.Duration("scrape-interval", loadtest.DefaultScrapeInterval, "time between scrapes of the target's metrics (0 disables scraping)")
	metricsURL := fs.String("metrics-url", "", "metrics `URL` to scrape (default: /metrics on the target's host)")
	headers := headerList{}
	fs.Var(headers, "H", "extra request `header` \"Name: value\", e.g. -H \"Priority: u=0\" or -H \"X-Request-Timeout: 50ms\"; repeatable")
	if code, ok := parse(fs, args, runUsage, e); !ok {
		return code
	}

	if fs.NArg() != 1 {
		return usageError(e, "run", fmt.Sprintf("want exactly one URL argument after the flags, got %d", fs.NArg()))
	}
	target := fs.Arg(0)
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return usageError(e, "run", fmt.Sprintf("URL %q must be absolute http, e.g. http://127.0.0.1:8080/data", target))
	}
	cfg := loadtest.Config{
		URL:      target,
		Header:   headers,
		Close:    *closeEach,
		Duration: *duration,
		Warmup:   *warmup,
		Timeout:  *timeout,
	}
	switch {
	case len(rates.values) > 0 && explicit(fs, "c"):
		return usageError(e, "run", "-c (closed loop) and -rate (open loop) exclude each other")
	case len(rates.values) > 0:
		cfg.Rates = rates.values
		cfg.MaxInflight = *maxInflight
		if *maxInflight < 1 {
			return usageError(e, "run", fmt.Sprintf("-max-inflight must be >= 1 (got %d)", *maxInflight))
		}
	default:
		if explicit(fs, "max-inflight") {
			return usageError(e, "run", "-max-inflight applies to the open loop only: add -rate")
		}
		if *conns < 1 {
			return usageError(e, "run", fmt.Sprintf("-c must be >= 1 (got %d)", *conns))
		}
		cfg.Connections = *conns
	}
	if err := positive("d", *duration); err != nil {
		return usageError(e, "run", err.Error())
	}
	if err := positive("timeout", *timeout); err != nil {
		return usageError(e, "run", err.Error())
	}
	if *warmup < 0 {
		return usageError(e, "run", fmt.Sprintf("-warmup must be >= 0 (got %v)", *warmup))
	}
	if n := len(rates.values); n > 0 && *duration/time.Duration(n) <= 0 {
		return usageError(e, "run", fmt.Sprintf("-d %v is too short for %d rate steps", *duration, n))
	}
	switch {
	case *scrapeInterval < 0:
		return usageError(e, "run", fmt.Sprintf("-scrape-interval must be >= 0 (got %v)", *scrapeInterval))
	case *scrapeInterval > 0:
		cfg.ScrapeInterval = *scrapeInterval
		cfg.ScrapeURL = *metricsURL
		if cfg.ScrapeURL == "" {
			cfg.ScrapeURL = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/metrics"}).String()
		}
	case explicit(fs, "metrics-url"):
		return usageError(e, "run", "-metrics-url needs scraping on: -scrape-interval > 0")
	}
	if e.terminal {
		cfg.Progress = e.stderr
	}

	res, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return usageError(e, "run", err.Error())
	}
	if *jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return failure(e, "run", fmt.Errorf("write JSON: %w", err))
		}
	} else if err := res.WriteText(e.stdout); err != nil {
		return failure(e, "run", fmt.Errorf("write summary: %w", err))
	}
	if res.Interrupted {
		fmt.Fprintf(e.stderr, "loadtest run: interrupted after %.1fs; the result covers that part only\n", res.ElapsedSeconds)
		return exitFailure
	}
	return exitOK
}

// headerList collects -H "Name: value" flags.
type headerList map[string]string

func (h headerList) String() string { return "" }

func (h headerList) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if name = strings.TrimSpace(name); !ok || name == "" || strings.ContainsAny(name, " \t") {
		return fmt.Errorf("want \"Name: value\", got %q", v)
	}
	h[name] = strings.TrimSpace(value)
	return nil
}
