package handlers

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/valyala/fasthttp"

	"offload/overload"
)

// Request headers /data reads.
const (
	// HeaderPriority is RFC 9218's priority signal, e.g. "u=1" or "u=5, i".
	HeaderPriority = "Priority"
	// HeaderEnvoyTimeout is the time, in whole milliseconds, that Envoy's
	// router gives the upstream to answer; Envoy sets it on every request
	// it routes with a timeout.
	HeaderEnvoyTimeout = "X-Envoy-Expected-Rq-Timeout-Ms"
	// HeaderRequestTimeout is the same budget for other clients, as a Go
	// duration such as 250ms.
	HeaderRequestTimeout = "X-Request-Timeout"
)

// urgency reads the request's RFC 9218 urgency: DefaultUrgency when there
// is no Priority header. The RFC has receivers ignore what they cannot
// use, so a Priority field that does not parse as a Structured Fields
// dictionary (RFC 9651, section 4.2), a u that is not an integer from 0 to
// 7, and unknown parameters all leave the default in place: they are never
// a reason to fail a request.
func urgency(h *fasthttp.RequestHeader) int {
	raw := h.PeekAll(HeaderPriority)
	if len(raw) == 0 {
		return overload.DefaultUrgency
	}
	lines := make([]string, len(raw))
	for i, l := range raw {
		lines[i] = string(l)
	}
	dict, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil {
		return overload.DefaultUrgency
	}
	m, ok := dict.Get("u")
	if !ok {
		return overload.DefaultUrgency
	}
	item, ok := m.(httpsfv.Item)
	if !ok {
		return overload.DefaultUrgency
	}
	u, ok := item.Value.(int64)
	if !ok || u < 0 || u >= overload.Levels {
		return overload.DefaultUrgency
	}
	return int(u)
}

// budget reads how long the client will wait for the answer, from
// X-Envoy-Expected-Rq-Timeout-Ms or X-Request-Timeout (the smaller when
// both are set); 0 when neither is. A value that is not a positive whole
// number of milliseconds, or a positive Go duration, is an error that says
// so in one line.
func budget(h *fasthttp.RequestHeader) (time.Duration, error) {
	var b time.Duration
	if raw := h.Peek(HeaderEnvoyTimeout); raw != nil {
		ms, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil || ms <= 0 || ms > math.MaxInt64/int64(time.Millisecond) {
			return 0, fmt.Errorf("bad %s %s: want a positive whole number of milliseconds such as 250",
				strings.ToLower(HeaderEnvoyTimeout), strconv.Quote(string(raw)))
		}
		b = time.Duration(ms) * time.Millisecond
	}
	if raw := h.Peek(HeaderRequestTimeout); raw != nil {
		d, err := time.ParseDuration(strings.TrimSpace(string(raw)))
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("bad %s %s: want a positive duration such as 250ms or 2s",
				HeaderRequestTimeout, strconv.Quote(string(raw)))
		}
		if b == 0 || d < b {
			b = d
		}
	}
	return b, nil
}
