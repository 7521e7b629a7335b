// Package await waits in tests for a condition to hold, with a deadline,
// instead of sleeping and hoping.
package await

import (
	"testing"
	"time"
)

// True polls cond until it holds, and fails the test if it still does not
// after limit. what says what was awaited, for the failure message. The
// polls start a millisecond apart and back off to 10 ms, so that a
// condition that scrapes a server over HTTP does not load it.
func True(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for pause := time.Millisecond; !cond(); pause = min(2*pause, 10*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(pause)
	}
}
