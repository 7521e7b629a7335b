package work

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

// reference is the original algorithm written the obvious way, with a fresh
// string per iteration and encoding/json, to check Compute against.
func reference(n int) []byte {
	type doc struct {
		Street string `json:"street"`
		City   string `json:"city"`
		Count  int    `json:"count"`
	}
	d := doc{Street: Street}
	for i := range n {
		d.City = fmt.Sprintf("Value: %d", i)
		d.Count += len(d.City)
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

func TestComputeMatchesReference(t *testing.T) {
	var s Scratch
	for _, n := range []int{0, 1, 9, 10, 11, 100, 5000, 123457} {
		got := Compute(nil, n, &s)
		if want := reference(n); string(got) != string(want) {
			t.Errorf("Compute(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestComputeKnownDocument(t *testing.T) {
	// 5000 iterations, as in the original experiment: 10 one-digit values of
	// length 8, 90 of 9, 900 of 10 and 4000 of 11.
	want := `{"street":"10 Downing Street","city":"Value: 4999","count":53890}`
	if got := Compute(nil, 5000, &Scratch{}); string(got) != want {
		t.Fatalf("Compute(5000) = %s, want %s", got, want)
	}
}

func TestComputeAppends(t *testing.T) {
	got := Compute([]byte("prefix:"), 1, &Scratch{})
	if want := `prefix:{"street":"10 Downing Street","city":"Value: 0","count":8}`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestComputeDoesNotAllocate(t *testing.T) {
	var s Scratch
	buf := make([]byte, 0, 128)
	Compute(buf, 1000, &s) // grow the scratch once
	allocs := testing.AllocsPerRun(50, func() { buf = Compute(buf[:0], 1000, &s) })
	if allocs != 0 {
		t.Fatalf("Compute allocates %.1f times per call, want 0", allocs)
	}
}

func TestCalibrationIterations(t *testing.T) {
	c := Calibration{NanosPerIteration: 20}
	cases := []struct {
		d    time.Duration
		want int
	}{
		{0, 0},
		{-time.Millisecond, 0},
		{time.Nanosecond, 1},
		{4 * time.Millisecond, 200_000},
		{time.Second, 50_000_000},
	}
	for _, tc := range cases {
		if got := c.Iterations(tc.d); got != tc.want {
			t.Errorf("Iterations(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
	if got := c.Duration(200_000); got != 4*time.Millisecond {
		t.Errorf("Duration(200000) = %v, want 4ms", got)
	}
}

func TestCalibrateIsPlausible(t *testing.T) {
	c, err := Calibrate(30 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// One iteration formats a short integer: a few ns on any machine this
	// runs on, and not a microsecond even under the race detector.
	if c.NanosPerIteration < 1 || c.NanosPerIteration > 1000 {
		t.Fatalf("calibrated %.2f ns/iteration, outside [1, 1000]", c.NanosPerIteration)
	}
	// The calibrated count must really take about the wanted time: the
	// median of a few timed runs of 2 ms of work lies within a factor of
	// two (the machine may be shared and noisy).
	n := c.Iterations(2 * time.Millisecond)
	var runs []time.Duration
	var s Scratch
	for range 7 {
		start := time.Now()
		Compute(nil, n, &s)
		runs = append(runs, time.Since(start))
	}
	slices.Sort(runs)
	if median := runs[len(runs)/2]; median < time.Millisecond || median > 4*time.Millisecond {
		t.Fatalf("%d iterations calibrated as 2ms took %v (median of %v)", n, median, runs)
	}
}

func BenchmarkCompute(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var s Scratch
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				buf = Compute(buf[:0], n, &s)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/iteration")
		})
	}
}
