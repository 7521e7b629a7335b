package experiment

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"offload/config"
)

// checks collects the problems a Validate finds, one line each.
type checks []error

// check records the problem format describes unless ok.
func (cs *checks) check(ok bool, format string, args ...any) {
	if !ok {
		*cs = append(*cs, fmt.Errorf(format, args...))
	}
}

// oneOf checks that each of vals is one of the two allowed and is given
// once; what names them in the errors, e.g. "mode".
func oneOf[T ~string](cs *checks, what string, vals []T, allowed ...T) {
	for i, v := range vals {
		cs.check(slices.Contains(allowed, v), "unknown %s %q: want %s or %s", what, v, allowed[0], allowed[1])
		cs.check(!slices.Contains(vals[:i], v), "%s %q given twice", what, v)
	}
}

// server checks the server's settings, as one line.
func (cs *checks) server(s config.Config) {
	if err := s.Validate(); err != nil {
		cs.check(false, "server settings: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
}

// probe checks the /healthz probe's rate (0 disables it) and timeout.
func (cs *checks) probe(rate float64, timeout time.Duration) {
	cs.check(rate >= 0 && !math.IsInf(rate, 1), "healthz probe rate must be >= 0 req/s (got %v)", rate)
	cs.check(!(rate > 0) || timeout > 0, "healthz probe timeout must be > 0 (got %v)", timeout)
}
