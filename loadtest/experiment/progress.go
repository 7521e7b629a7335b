package experiment

import (
	"fmt"
	"io"
	"time"
)

// plannedRun is one run of a multi-run experiment as planned: what it
// measures, e.g. "mode=offload pool=4", and how long it should take,
// warmup and the server's start and stop included.
type plannedRun struct {
	label    string
	duration time.Duration
}

// progress tells the person waiting for a multi-run experiment where it
// stands: one line per run start, such as
//
//	run 3 of 12 (mode=offload pool=4 engine=wrk), ~1m12s left
//
// The time left is the planned time of this run and the ones after it, an
// estimate that does not drift with the machine's noise. A nil w makes it
// silent; write errors are ignored, as progress must never fail an
// experiment.
type progress struct {
	w       io.Writer
	plan    []plannedRun
	started int
}

// next reports that the next run of the plan begins.
func (p *progress) next() {
	i := p.started
	p.started++
	if p.w == nil || i >= len(p.plan) {
		return
	}
	var left time.Duration
	for _, r := range p.plan[i:] {
		left += r.duration
	}
	fmt.Fprintf(p.w, "run %d of %d (%s), ~%v left\n", i+1, len(p.plan), p.plan[i].label, left.Round(time.Second))
}

// progressf writes a line for the person waiting, if w is set.
func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}
