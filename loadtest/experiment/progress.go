package experiment

import (
	"fmt"
	"io"
	"time"
)

// PlannedRun is one run of a multi-run experiment as planned: what it
// measures and how long it is expected to take.
type PlannedRun struct {
	// Label says what the run measures, e.g. "mode=offload pool=4".
	Label string
	// Duration is the run's planned time: warmup, measurement and the
	// expected overhead of starting and stopping the server.
	Duration time.Duration
}

// Progress tells the person waiting for a multi-run experiment where it
// stands: one line per run start, such as
//
//	run 3 of 12 (mode=offload pool=4 engine=wrk), ~1m12s left
//
// The time left is the sum of the planned durations of this run and the
// ones after it, so it is an estimate that does not drift with the
// machine's noise.
type Progress struct {
	w    io.Writer
	plan []PlannedRun
}

// NewProgress returns a reporter for plan that writes to w; a nil w makes
// it silent.
func NewProgress(w io.Writer, plan []PlannedRun) *Progress {
	return &Progress{w: w, plan: plan}
}

// Total is the planned duration of the whole experiment.
func (p *Progress) Total() time.Duration { return p.left(0) }

// Start reports that run i (counting from 0) of the plan begins. Write
// errors are ignored: progress must never fail an experiment.
func (p *Progress) Start(i int) {
	if p.w == nil || i < 0 || i >= len(p.plan) {
		return
	}
	fmt.Fprintf(p.w, "run %d of %d (%s), ~%v left\n", i+1, len(p.plan), p.plan[i].Label, p.left(i).Round(time.Second))
}

// left is the planned time of runs i and later.
func (p *Progress) left(i int) time.Duration {
	var d time.Duration
	for _, r := range p.plan[i:] {
		d += r.Duration
	}
	return d
}
