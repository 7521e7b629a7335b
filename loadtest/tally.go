package loadtest

import (
	"cmp"
	"slices"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// maxSamples is how many distinct "other" error messages a run keeps.
const maxSamples = 5

// tally accumulates the outcomes of the workers assigned to it. A run has a
// few tallies rather than one, so that workers recording at the same moment
// rarely wait on the same lock, and rather than one per worker, so that
// thousands of open-loop workers do not each carry a ~140 KB histogram.
type tally struct {
	mu       sync.Mutex
	hist     *hdrhistogram.Histogram // µs
	byStatus map[int]*hdrhistogram.Histogram
	status   map[int]int64
	failures [numFailures]int64
	samples  []string
	finished int64    // every finished request, warmup included, for progress
	records  []Record // when the run keeps them
}

// newHistogram returns an empty latency histogram in microseconds that can
// hold any latency a request with the given timeout can have, and at least
// a minute.
func newHistogram(timeout time.Duration) *hdrhistogram.Histogram {
	highest := max(time.Minute, 2*timeout)
	return hdrhistogram.New(1, highest.Microseconds(), 3)
}

func newTally(timeout time.Duration) *tally {
	return &tally{hist: newHistogram(timeout), byStatus: make(map[int]*hdrhistogram.Histogram), status: make(map[int]int64)}
}

// answered records a response with the given status and latency.
func (t *tally) answered(status int, latency time.Duration, record bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.finished++
	if !record {
		return
	}
	t.status[status]++
	// Latency from a scheduled time can exceed the timeout by however late
	// the scheduler was; such an extreme is kept at the histogram's ceiling
	// rather than lost.
	us := min(max(latency.Microseconds(), 0), t.hist.HighestTrackableValue())
	_ = t.hist.RecordValue(us) // cannot fail: us is within range
	h := t.byStatus[status]
	if h == nil {
		h = hdrhistogram.New(t.hist.LowestTrackableValue(), t.hist.HighestTrackableValue(), int(t.hist.SignificantFigures()))
		t.byStatus[status] = h
	}
	_ = h.RecordValue(us)
}

// failed records a request that got no response.
func (t *tally) failed(f failure, err error, record bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.finished++
	if !record {
		return
	}
	t.failures[f]++
	if f == failOther && len(t.samples) < maxSamples {
		t.samples = addSample(t.samples, err.Error())
	}
}

// keep adds r to the run's records.
func (t *tally) keep(r Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.records = append(t.records, r)
}

// addSample appends msg to samples unless it is already there or samples is
// full.
func addSample(samples []string, msg string) []string {
	if len(samples) >= maxSamples {
		return samples
	}
	for _, s := range samples {
		if s == msg {
			return samples
		}
	}
	return append(samples, msg)
}

// merged is what the tallies of a run add up to.
type merged struct {
	hist     *hdrhistogram.Histogram         // every answered request, µs
	byStatus map[int]*hdrhistogram.Histogram // the same, per status code
	out      Outcomes
	finished int64
}

// merge folds the tallies into one histogram and one Outcomes. It may run
// while workers are still recording.
func merge(tallies []*tally, timeout time.Duration) merged {
	hist := newHistogram(timeout)
	byStatus := make(map[int]*hdrhistogram.Histogram)
	out := Outcomes{Status: make(map[int]int64)}
	var finished int64
	for _, t := range tallies {
		t.mu.Lock()
		hist.Merge(t.hist)
		for code, h := range t.byStatus {
			if byStatus[code] == nil {
				byStatus[code] = newHistogram(timeout)
			}
			byStatus[code].Merge(h)
		}
		for code, n := range t.status {
			out.Status[code] += n
		}
		out.Timeouts += t.failures[failTimeout]
		out.Connect += t.failures[failConnect]
		out.Resets += t.failures[failReset]
		out.Other += t.failures[failOther]
		for _, s := range t.samples {
			out.OtherSamples = addSample(out.OtherSamples, s)
		}
		finished += t.finished
		t.mu.Unlock()
	}
	return merged{hist: hist, byStatus: byStatus, out: out, finished: finished}
}

// records gathers the tallies' records in order of their scheduled time.
func records(tallies []*tally) []Record {
	var rs []Record
	for _, t := range tallies {
		t.mu.Lock()
		rs = append(rs, t.records...)
		t.mu.Unlock()
	}
	slices.SortFunc(rs, func(a, b Record) int { return cmp.Compare(a.At, b.At) })
	return rs
}
