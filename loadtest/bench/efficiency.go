package bench

import (
	"context"
	"fmt"
	"time"

	"offload/config"
	"offload/loadtest/observe"
	"offload/metrics"
	"offload/overload"
)

// processCPU is the standard series of a process's CPU seconds.
const processCPU = "process_cpu_seconds_total"

// 1. Work efficiency: the share of the server's CPU that went into jobs.
func (b *bench) workEfficiency(ctx context.Context, row *Row) error {
	row.Pass = true
	for _, c := range []struct {
		work time.Duration
		want float64
	}{{defaultWork, 0.95}, {100 * time.Microsecond, 0.75}} {
		eff, rate, jobCPU, err := b.efficiency(ctx, c.work)
		if err != nil {
			return err
		}
		key := c.work.String()
		row.Values["efficiency_"+key], row.Values["capacity_rps_"+key], row.Values["job_cpu_us_"+key] = eff, rate, jobCPU
		row.Pass = row.Pass && eff >= c.want
		row.Measured += fmt.Sprintf("%.3f at %v (%.0f jobs/s of %.0f µs CPU each); ", eff, c.work, rate, jobCPU)
		if c.work == defaultWork {
			b.report.Capacity = rate
		}
	}
	row.Measured = row.Measured[:len(row.Measured)-2]
	row.Notes = append(row.Notes, "closed loop, 32 keep-alive connections, 6 s: the increase of "+metrics.JobsCPU+
		" (each job timed by its thread's own CPU clock) over that of "+processCPU+", both read in the same two scrapes; "+
		"a job's CPU is the work as calibrated at the start of the run, which a slow moment there shortens")
	return nil
}

// efficiency saturates a server doing w per job and returns the jobs' CPU
// time over the server's (from the same scrapes, so that the machine's
// drift changes both alike), the completion rate and a job's CPU in µs.
func (b *bench) efficiency(ctx context.Context, w time.Duration) (eff, rate, jobCPU float64, err error) {
	// At 4 ms the closed loop of 32 runs on the static queue, where the
	// adaptive policy would refuse the excess and measure the refusals; at
	// 100 µs they queue less than its target, so it runs the default.
	var d observe.Delta
	err = b.withServer(ctx, b.cfg.Server, func(c *config.Config) {
		c.Work = w
		if w >= time.Millisecond {
			c.Overload = overload.Static.String()
		}
	}, func(srv *observe.Server) (err error) {
		d, err = b.saturate(ctx, srv, b.scaled(6*time.Second))
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	jobs, process, completed := d.Counter(metrics.JobsCPU), d.Counter(processCPU), d.Counter(metrics.JobsCompleted)
	if completed == 0 || process <= 0 {
		return 0, 0, 0, fmt.Errorf("no work completed at -work %v", w)
	}
	return jobs / process, d.Rate(metrics.JobsCompleted), jobs / completed * 1e6, nil
}
