package loadtest

import (
	"testing"
	"time"
)

func TestPacerSteps(t *testing.T) {
	// 200, 400, 800 req/s over thirds of 3 s, after 1 s of warmup at 200.
	p := newPacer(time.Second, 3*time.Second, []float64{200, 400, 800})
	if got := p.total(); got != 200+200+400+800 {
		t.Fatalf("total = %v, want 1600", got)
	}
	perSecond := make([]int, 4)
	var last time.Duration
	n := int64(0)
	for ; ; n++ {
		at, ok := p.due(n)
		if !ok {
			break
		}
		if at < last {
			t.Fatalf("request %d due at %v, before request %d at %v", n, at, n-1, last)
		}
		last = at
		perSecond[at/time.Second]++
	}
	if n != 1600 {
		t.Errorf("schedule holds %d requests, want 1600", n)
	}
	want := []int{200, 200, 400, 800}
	for i := range want {
		if perSecond[i] != want[i] {
			t.Errorf("second %d has %d requests, want %d", i, perSecond[i], want[i])
		}
	}
	for _, c := range []struct {
		n    int64
		want time.Duration
	}{
		{0, 0},
		{1, 5 * time.Millisecond},
		{400, 2 * time.Second}, // first request of the 400 step
		{401, 2*time.Second + 2500*time.Microsecond},
		{1599, 4*time.Second - 1250*time.Microsecond},
	} {
		// Float arithmetic may be a nanosecond off.
		if at, _ := p.due(c.n); (at - c.want).Abs() > time.Microsecond {
			t.Errorf("due(%d) = %v, want %v", c.n, at, c.want)
		}
	}
}

func TestPacerWithoutWarmup(t *testing.T) {
	p := newPacer(0, 500*time.Millisecond, []float64{200})
	if at, ok := p.due(99); !ok || (at-495*time.Millisecond).Abs() > time.Microsecond {
		t.Errorf("due(99) = %v, %v; want 495ms, true", at, ok)
	}
	if _, ok := p.due(100); ok {
		t.Errorf("due(100) is in a 100-request schedule")
	}
}

// total returns how many requests the schedule holds.
func (p pacer) total() float64 {
	return p[len(p)-1].hits
}
