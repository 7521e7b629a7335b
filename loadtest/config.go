package loadtest

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"net/url"
	"time"
)

// Defaults applied to zero Config fields.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxInflight = 1000
)

// Config describes one load test. The zero value of an optional field selects
// its default.
type Config struct {
	// URL is the target of every request, a GET, e.g.
	// "http://127.0.0.1:8080/data". Only plain http is supported.
	URL string
	// Header holds extra request headers, e.g. {"X-Work-Ms": "5"}.
	Header map[string]string

	// Connections selects the closed loop (wrk's model): that many workers,
	// each on its own connection, sending as soon as the last answer came.
	Connections int
	// Rates selects the open loop instead: requests on a fixed schedule, at
	// Rates[i] per second in step i of Duration split into equal steps and
	// at Rates[0] in the warmup, with latency counted from the scheduled
	// time, so that time queued behind a stalled server is measured.
	Rates []float64
	// Burst, in an open loop, adds Burst.Size requests all due at Every,
	// 2×Every, … from the start of the run, warmup included.
	Burst Burst
	// MaxInflight caps the open loop's outstanding requests, and so its
	// connections; a send due beyond it is counted in Outcomes.Missed.
	// Default DefaultMaxInflight.
	MaxInflight int
	// Close sends "Connection: close", a new connection per request.
	Close bool

	// Duration is how long requests are measured, after Warmup.
	Duration time.Duration
	// Warmup runs before Duration; what finishes in it is not measured.
	Warmup time.Duration
	// Timeout bounds each request from the moment it is actually sent,
	// connect included. Default DefaultTimeout.
	Timeout time.Duration

	// Record keeps every request, warmup included, in Result.Records.
	Record bool
}

// Burst is a number of requests sent at the same moment, repeatedly.
type Burst struct {
	Size  int
	Every time.Duration
}

// open reports whether c describes an open-loop run.
func (c *Config) open() bool { return len(c.Rates) > 0 }

// settings is a validated Config with defaults applied.
type settings struct {
	Config
	addr string // host:port of URL
}

// validate checks c and fills in defaults; its error says what to change.
func (c Config) validate() (*settings, error) {
	s := &settings{Config: c}
	var ck checks
	s.addr = ck.httpAddr("url", c.URL)
	_, emptyName := c.Header[""]
	ck.check(!emptyName, "header: empty header name")
	ck.check(c.Duration > 0, "duration must be > 0 (got %v)", c.Duration)
	ck.check(c.Warmup >= 0, "warmup must be >= 0 (got %v)", c.Warmup)
	ck.check(c.Timeout >= 0, "timeout must be > 0, or 0 for the default %v (got %v)", DefaultTimeout, c.Timeout)
	s.Timeout = cmp.Or(c.Timeout, DefaultTimeout)

	if c.open() {
		ck.check(c.Connections == 0, "set either connections (closed loop) or rates (open loop), not both")
		for i, r := range c.Rates {
			ck.check(r > 0 && !math.IsInf(r, 1), "rate must be > 0 req/s (rates[%d] = %v)", i, r)
		}
		ck.check(c.Duration/time.Duration(len(c.Rates)) > 0,
			"duration %v is too short for %d rate steps", c.Duration, len(c.Rates))
		ck.check(c.MaxInflight >= 0,
			"max inflight must be > 0, or 0 for the default %d (got %d)", DefaultMaxInflight, c.MaxInflight)
		s.MaxInflight = cmp.Or(c.MaxInflight, DefaultMaxInflight)
		ck.check(c.Burst.Size == 0 || c.Burst.Size > 0 && c.Burst.Every > 0,
			"burst of %d every %v: want a size > 0 and a positive interval, or neither", c.Burst.Size, c.Burst.Every)
	} else {
		ck.check(c.Connections > 0,
			"connections must be > 0 for a closed loop, or set rates for an open loop (got %d)", c.Connections)
		ck.check(c.MaxInflight == 0, "max inflight applies to the open loop only: set rates, or leave max inflight 0")
		ck.check(c.Burst.Size == 0, "bursts apply to the open loop only: set rates, or leave burst empty")
	}

	if ck.err != nil {
		return nil, ck.err
	}
	return s, nil
}

// checks keeps the first failure of a validation, so that it reads as a
// list of conditions.
type checks struct{ err error }

// check records the error format describes unless ok or already failed.
func (ck *checks) check(ok bool, format string, args ...any) {
	if !ok && ck.err == nil {
		ck.err = fmt.Errorf(format, args...)
	}
}

// httpAddr checks that raw is an absolute http URL and returns the address
// to dial for it.
func (ck *checks) httpAddr(what, raw string) string {
	u, err := url.Parse(raw)
	ck.check(raw != "", "%s is required, e.g. http://127.0.0.1:8080/data", what)
	ck.check(err == nil, "%s: %w", what, err)
	if err != nil {
		return ""
	}
	ck.check(u.Scheme == "http", "%s %q: scheme must be http (https is not supported)", what, raw)
	ck.check(u.Hostname() != "", "%s %q: missing host", what, raw)
	return net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), "80"))
}
