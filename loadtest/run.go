package loadtest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Run performs the load test cfg describes and returns what it measured.
// It stops sending at Warmup+Duration and waits for the requests in flight.
// If ctx is cancelled first, Run abandons them and returns the partial
// result with Interrupted set; the error is non-nil only for an invalid
// cfg. Every goroutine Run starts has exited when it returns.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	r := &run{s: s, target: newTransport(s.addr, s.URL, s.Header, s.Close)}
	// A few tallies per CPU keep recording from contending without costing
	// a histogram per worker; a valid s has Connections or MaxInflight 0.
	r.tallies = make([]*tally, min(max(s.Connections, s.MaxInflight), 4*runtime.GOMAXPROCS(0)))
	for i := range r.tallies {
		r.tallies[i] = newTally(s.Timeout, s.Record)
	}
	return r.execute(ctx), nil
}

// run is the state of one Run call.
type run struct {
	s       *settings
	target  *transport
	tallies []*tally

	start        time.Time
	measureStart time.Time // end of the warmup
	end          time.Time // no request is sent from here on

	missed atomic.Int64
}

func (r *run) execute(ctx context.Context) *Result {
	r.start = time.Now()
	r.measureStart = r.start.Add(r.s.Warmup)
	r.end = r.measureStart.Add(r.s.Duration)

	done := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		select {
		case <-ctx.Done():
			// The only way to unblock workers waiting for a response.
			r.target.abort()
		case <-done:
		}
	})

	if r.s.open() {
		r.openLoop(ctx)
	} else {
		r.closedLoop(ctx)
	}
	stopped := time.Now()
	interrupted := ctx.Err() != nil
	close(done)
	watcher.Wait()
	return r.result(stopped, interrupted)
}

// closedLoop runs one worker per connection until the end of the run.
func (r *run) closedLoop(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range r.s.Connections {
		w := r.newWorker(i)
		wg.Go(func() {
			defer w.close()
			for now := time.Now(); ctx.Err() == nil && now.Before(r.end); now = time.Now() {
				w.send(ctx, now)
			}
		})
	}
	wg.Wait()
}

// openLoop hands each scheduled send to an idle worker, starting workers
// (which keep their connections) up to MaxInflight, and counts a send as
// missed when all are busy.
func (r *run) openLoop(ctx context.Context) {
	idle := make(chan *worker, r.s.MaxInflight)
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		close(idle)
		for w := range idle {
			w.close()
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	workers := 0
	for offset := range schedule(r.s) {
		due := r.start.Add(offset)
		if !sleepUntil(ctx, timer, due) {
			return
		}
		var w *worker
		select {
		case w = <-idle:
		default:
			if workers == r.s.MaxInflight {
				if !due.Before(r.measureStart) {
					r.missed.Add(1)
				}
				continue
			}
			w = r.newWorker(workers)
			workers++
		}
		wg.Go(func() {
			w.send(ctx, due)
			idle <- w
		})
	}
	// Wait out the schedule's last interval, so that the measured time is
	// never shorter than Duration.
	sleepUntil(ctx, timer, r.end)
}

// sleepUntil waits for t on timer and reports whether ctx is still live.
func sleepUntil(ctx context.Context, timer *time.Timer, t time.Time) bool {
	if wait := time.Until(t); wait > 0 {
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
	return ctx.Err() == nil
}

// worker sends requests over its own connection, one at a time, and
// records them in its tally.
type worker struct {
	*client
	r     *run
	tally *tally
}

func (r *run) newWorker(i int) *worker {
	return &worker{client: r.target.newClient(), r: r, tally: r.tallies[i%len(r.tallies)]}
}

// send makes one request and records its outcome. scheduled is when the
// request was due, from which its latency counts.
func (w *worker) send(ctx context.Context, scheduled time.Time) {
	deadline := time.Now().Add(w.r.s.Timeout)
	err := w.do(ctx, deadline)
	if err != nil && ctx.Err() != nil {
		return // cut short by the caller: it says nothing about the server
	}
	now := time.Now()
	rec := Record{At: scheduled.Sub(w.r.start), Latency: now.Sub(scheduled)}
	var f failure
	if err == nil {
		rec.Status = w.resp.StatusCode()
	} else {
		f = classify(err, deadline)
	}
	w.tally.add(rec, !now.Before(w.r.measureStart), f, err)
}

func (r *run) result(stopped time.Time, interrupted bool) *Result {
	m, all := merge(r.tallies, r.s.Timeout)
	m.out.Missed = r.missed.Load()
	elapsed := max(stopped.Sub(r.measureStart), 0).Seconds()
	res := &Result{
		Mode:              Closed,
		URL:               r.s.URL,
		Connections:       r.s.Connections,
		Close:             r.s.Close,
		DurationSeconds:   r.s.Duration.Seconds(),
		WarmupSeconds:     r.s.Warmup.Seconds(),
		TimeoutSeconds:    r.s.Timeout.Seconds(),
		ElapsedSeconds:    elapsed,
		Interrupted:       interrupted,
		Answered:          all.TotalCount(),
		Latency:           latencyOf(all),
		LatencyByStatus:   make(map[int]Latency, len(m.byStatus)),
		Outcomes:          m.out,
		ConnectionsOpened: r.target.opened.Load(),
		Histogram:         all,
		Records:           records(r.tallies),
	}
	if r.s.open() {
		res.Mode = Open
		res.Rates = slices.Clone(r.s.Rates)
		res.MaxInflight = r.s.MaxInflight
	}
	var ok int64
	for code, h := range m.byStatus {
		res.LatencyByStatus[code] = latencyOf(h)
		if code >= 200 && code < 300 {
			ok += h.TotalCount()
		}
	}
	res.Requests = res.Answered + m.out.Errors()
	if elapsed > 0 {
		res.Throughput, res.Goodput = float64(res.Answered)/elapsed, float64(ok)/elapsed
	}
	return res
}
