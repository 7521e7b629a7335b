// Package ratelimit thins out repeated events, such as log lines in an error
// storm, to one per interval while counting the ones it held back.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter lets one event through per interval. It is safe for concurrent
// use; the zero value lets every event through.
type Limiter struct {
	every      time.Duration
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// New returns a Limiter that lets one event through per every.
func New(every time.Duration) *Limiter { return &Limiter{every: every} }

// Allow reports whether an event at now may pass and, if it may, how many
// events were held back since the last one that passed.
func (l *Limiter) Allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return 0, false
	}
	suppressed = l.suppressed
	l.last, l.suppressed = now, 0
	return suppressed, true
}
