package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := New(time.Second)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{10 * time.Millisecond, false, 0},
		{999 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
	}
	for _, s := range steps {
		n, ok := l.Allow(t0.Add(s.at))
		if ok != s.ok || n != s.suppressed {
			t.Fatalf("Allow at +%v = (%d, %v), want (%d, %v)", s.at, n, ok, s.suppressed, s.ok)
		}
	}
}

func TestZeroValueAllowsAll(t *testing.T) {
	var l Limiter
	for range 3 {
		if _, ok := l.Allow(time.Unix(1, 0)); !ok {
			t.Fatal("zero Limiter held an event back")
		}
	}
}
