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

// tally accumulates the outcomes of its workers. A run has a few, so that
// workers rarely wait on one lock and thousands of open-loop workers do not
// each carry ~140 KB histograms.
type tally struct {
	timeout time.Duration
	keep    bool // the run keeps Records

	mu       sync.Mutex
	byStatus map[int]*hdrhistogram.Histogram // µs; their counts are Outcomes.Status
	out      Outcomes                        // failures only
	records  []Record
}

// newHistogram returns a latency histogram in µs that holds any latency a
// request with the given timeout can have, and at least a minute.
func newHistogram(timeout time.Duration) *hdrhistogram.Histogram {
	highest := max(time.Minute, 2*timeout)
	return hdrhistogram.New(1, highest.Microseconds(), 3)
}

func newTally(timeout time.Duration, keep bool) *tally {
	return &tally{timeout: timeout, keep: keep, byStatus: make(map[int]*hdrhistogram.Histogram)}
}

// add counts a finished request: an answer with rec.Status if err is nil,
// else a failure of class f. Only measured requests, those that finished
// after the warmup, count in the outcomes.
func (t *tally) add(rec Record, measured bool, f failure, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keep {
		t.records = append(t.records, rec)
	}
	switch {
	case !measured:
	case err == nil:
		h := t.histogram(rec.Status)
		// Latency from a scheduled time can exceed the timeout by however
		// late the scheduler was: kept at the ceiling rather than lost.
		_ = h.RecordValue(min(max(rec.Latency.Microseconds(), 0), h.HighestTrackableValue()))
	default:
		*t.out.count(f)++
		if f == failOther {
			t.out.OtherSamples = addSample(t.out.OtherSamples, err.Error())
		}
	}
}

// addSample appends msg to samples unless it is already there or samples is
// full.
func addSample(samples []string, msg string) []string {
	if len(samples) >= maxSamples || slices.Contains(samples, msg) {
		return samples
	}
	return append(samples, msg)
}

// histogram returns the latency histogram of a status code, creating it if
// need be.
func (t *tally) histogram(code int) *hdrhistogram.Histogram {
	h := t.byStatus[code]
	if h == nil {
		h = newHistogram(t.timeout)
		t.byStatus[code] = h
	}
	return h
}

// merge folds the tallies, but not their records, into one whose Outcomes
// include the status counts, and returns it with the histogram of every
// answered request. It may run while workers are still recording.
func merge(tallies []*tally, timeout time.Duration) (*tally, *hdrhistogram.Histogram) {
	m := newTally(timeout, false)
	m.out.Status = make(map[int]int64)
	for _, t := range tallies {
		t.mu.Lock()
		for code, h := range t.byStatus {
			m.histogram(code).Merge(h)
		}
		for f := range numFailures {
			*m.out.count(f) += *t.out.count(f)
		}
		for _, s := range t.out.OtherSamples {
			m.out.OtherSamples = addSample(m.out.OtherSamples, s)
		}
		t.mu.Unlock()
	}
	all := newHistogram(timeout)
	for code, h := range m.byStatus {
		all.Merge(h)
		m.out.Status[code] = h.TotalCount()
	}
	return m, all
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
