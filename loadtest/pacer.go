package loadtest

import (
	"iter"
	"time"
)

// pacer is the open-loop arrival schedule: spans of constant rate, the
// warmup at the first rate and then Duration in equal steps, one per rate.
// Request n is due at T_i + (n − H_i)/r_i in the span i (starting at T_i
// with rate r_i after H_i requests) with H_i ≤ n < H_{i+1}. Deriving each
// due time from n keeps rounding from accumulating, and a scheduler that
// fell behind sends every overdue request at once rather than stretching
// the schedule.
type pacer []span

type span struct {
	start time.Duration // T_i
	rate  float64       // r_i, requests per second
	hits  float64       // H_i, requests scheduled before start
}

// newPacer lays out the schedule. rates must be non-empty and positive.
func newPacer(warmup, duration time.Duration, rates []float64) pacer {
	var p pacer
	var at time.Duration
	var hits float64
	add := func(length time.Duration, rate float64) {
		if length <= 0 {
			return
		}
		p = append(p, span{start: at, rate: rate, hits: hits})
		at += length
		hits += rate * length.Seconds()
	}
	add(warmup, rates[0])
	for i, rate := range rates {
		// Step boundaries are computed from the start so that the last
		// step ends exactly at warmup+duration despite integer division.
		from := duration * time.Duration(i) / time.Duration(len(rates))
		to := duration * time.Duration(i+1) / time.Duration(len(rates))
		add(to-from, rate)
	}
	// A sentinel span holds the total, so "n is past the end" is the same
	// comparison as "n is past span i".
	p = append(p, span{start: at, hits: hits})
	return p
}

// due returns when request n is scheduled, as an offset from the start of
// the run, and false once n lies beyond the end of the schedule.
func (p pacer) due(n int64) (time.Duration, bool) {
	x := float64(n)
	for i, s := range p[:len(p)-1] {
		if x < p[i+1].hits {
			return s.start + time.Duration((x-s.hits)/s.rate*float64(time.Second)), true
		}
	}
	return 0, false
}

// schedule yields when each open-loop request is due, as offsets from the
// start of the run in time order: the rates' schedule merged with the
// bursts, Burst.Size requests at once at every multiple of Burst.Every before
// the end of the run.
func schedule(s *settings) iter.Seq[time.Duration] {
	pace := newPacer(s.Warmup, s.Duration, s.Rates)
	size, end := int64(s.Burst.Size), s.Warmup+s.Duration
	return func(yield func(time.Duration) bool) {
		// n counts the requests of the rates, k those of the bursts.
		for n, k := int64(0), int64(0); ; {
			at, more := pace.due(n)
			burst := time.Duration(k/max(size, 1)+1) * s.Burst.Every
			if size > 0 && burst < end && (!more || burst < at) {
				at, more = burst, true
				k++
			} else {
				n++
			}
			if !more || !yield(at) {
				return
			}
		}
	}
}
