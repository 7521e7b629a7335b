// Package await waits in tests for a condition to hold, with a deadline,
// instead of sleeping and hoping.
package await

import (
	"testing"
	"time"
)

// True polls cond every millisecond until it holds, and fails the test if
// it still does not after limit. what says what was awaited, for the
// failure message.
func True(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(time.Millisecond)
	}
}
