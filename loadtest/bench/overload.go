package bench

import (
	"context"
	"fmt"
	"slices"

	"offload/loadtest/experiment"
)

// overloadRun runs the overload experiment's phases once, against a
// default server, for rows 8 to 14.
func (b *bench) overloadRun(ctx context.Context) (*experiment.OverloadResult, error) {
	if b.report.Overload != nil || b.overloadErr != nil {
		return b.report.Overload, b.overloadErr
	}
	cfg := experiment.DefaultOverloadConfig()
	cfg.Server, cfg.Procs, cfg.Scale = b.cfg.Server, b.cfg.Procs, min(1, 3*b.cfg.Scale)
	cfg.Policies = []experiment.OverloadPolicy{{Name: "default"}}
	cfg.Progress, cfg.WorkIterationNs = b.cfg.Progress, b.report.WorkIterationNs
	b.report.Overload, b.overloadErr = experiment.Overload(ctx, cfg)
	return b.report.Overload, b.overloadErr
}

// onPhase measures a row by judging the named phase of the overload run.
func (b *bench) onPhase(name string,
	judge func(*Row, experiment.PhaseResult, experiment.Baseline) error) func(context.Context, *Row) error {
	return func(ctx context.Context, row *Row) error {
		res, err := b.overloadRun(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(res.Phases, func(p experiment.Phase) bool { return p.Name == name })
		if i < 0 {
			return fmt.Errorf("the overload run has no phase %q", name)
		}
		p := res.Runs[0].Phases[i]
		row.Notes = append(row.Notes, fmt.Sprintf("CPU over the phase: server %.2f, load generator %.2f, rest of the machine %.2f cores",
			p.ServerCores, p.GeneratorCores, p.OtherCores))
		return judge(row, p, res.Baseline)
	}
}

// 8. Sustained overload.
func sustainedOverload(row *Row, p experiment.PhaseResult, base experiment.Baseline) error {
	v := row.Values
	v["goodput_ratio"], v["p99_200_ms"], v["w_ms"], v["p99_503_ms"] = p.GoodputRatio, p.OK.P99, p.W, p.Busy.P99
	row.Pass = p.GoodputRatio >= 0.85 && p.OK.P99 <= 6*p.W && p.Busy.P99 <= 5
	row.Measured = fmt.Sprintf("goodput %.2f C; 200 p99 %.1f ms = %.1f W; 503 p99 %.2f ms", p.GoodputRatio, p.OK.P99, p.OK.P99/p.W, p.Busy.P99)
	row.Notes = append(row.Notes, fmt.Sprintf("C %.0f/s, W %.2f ms; 200 p50 %.1f ms; refused %.1f%%", base.Capacity, base.W, p.OK.P50, 100*p.Refused))
	return nil
}

// 9. The job's cost doubles in the middle of the overload.
func costDoubles(row *Row, p experiment.PhaseResult, base experiment.Baseline) error {
	row.Values["goodput_ratio"], row.Values["p99_200_ms"], row.Values["w8_ms"] = p.GoodputRatio, p.OK.P99, p.W
	row.Pass = p.OK.P99 <= 6*p.W && p.GoodputRatio >= 0.8
	row.Measured = fmt.Sprintf("200 p99 %.1f ms = %.1f W8; goodput %.2f C8", p.OK.P99, p.OK.P99/p.W, p.GoodputRatio)
	row.Notes = append(row.Notes, fmt.Sprintf("C8 %.0f/s, W8 %.2f ms", base.CapacityDoubled, base.WDoubled))
	return nil
}

// 10. Bursts are absorbed.
func burstsAbsorbed(row *Row, p experiment.PhaseResult, _ experiment.Baseline) error {
	row.Values["refused_share"] = p.Refused
	row.Pass = p.Refused <= 0.02 && p.Failed == 0
	row.Measured = fmt.Sprintf("%.2f%% refused; 200 p99 %.1f ms", 100*p.Refused, p.OK.P99)
	return nil
}

// 11. Steady load below capacity.
func steady(row *Row, p experiment.PhaseResult, _ experiment.Baseline) error {
	row.Values["refused_share"] = p.Refused
	row.Pass = p.Refused <= 0.005 && p.Failed == 0
	row.Measured = fmt.Sprintf("%.2f%% refused; 200 p99 %.1f ms = %.1f W", 100*p.Refused, p.OK.P99, p.OK.P99/p.W)
	return nil
}

// 12. Urgent traffic gets through an overload.
func priority(row *Row, p experiment.PhaseResult, base experiment.Baseline) error {
	u := p.Urgent
	if u == nil {
		return fmt.Errorf("phase %s sent no urgent traffic", p.Name)
	}
	total := (p.Goodput + u.Goodput) / base.Capacity
	row.Values["urgent_ok_share"], row.Values["urgent_p99_ms"], row.Values["total_goodput_ratio"] = u.OKShare, u.P99, total
	row.Pass = u.OKShare >= 0.98 && u.P99 <= 6*p.W && total >= 0.85
	row.Measured = fmt.Sprintf("urgent: %.1f%% got 200, p99 %.1f ms = %.1f W; total goodput %.2f C", 100*u.OKShare, u.P99, u.P99/p.W, total)
	return nil
}

// 13. Client deadlines.
func deadlines(row *Row, p experiment.PhaseResult, _ experiment.Baseline) error {
	v := row.Values
	v["p999_200_ms"], v["budget_ms"], v["goodput_ratio"], v["p99_503_ms"] = p.OK.P999, p.BudgetMs, p.GoodputRatio, p.Busy.P99
	v["late_200"], v["server_late_200"] = float64(p.LateOK), p.ServerLate
	row.Pass = p.OK.P999 <= p.BudgetMs+3 && p.GoodputRatio >= 0.7 && p.Busy.P99 <= 5
	row.Measured = fmt.Sprintf("200 p99.9 %.1f ms (budget %.1f ms); goodput %.2f C; 503 p99 %.2f ms", p.OK.P999, p.BudgetMs, p.GoodputRatio, p.Busy.P99)
	row.Notes = append(row.Notes, fmt.Sprintf("%d 200s arrived after the budget, %.0f left the server after it; /healthz p99 in the same phase %.2f ms",
		p.LateOK, p.ServerLate, p.HealthzP99))
	return nil
}

// 14. Health checks stay fast through every phase.
func (b *bench) healthThroughout(ctx context.Context, row *Row) error {
	res, err := b.overloadRun(ctx)
	if err != nil {
		return err
	}
	run := res.Runs[0]
	worst, at := 0.0, ""
	var failed int64
	for _, p := range run.Phases {
		failed += p.HealthzFailed
		if p.HealthzP99 > worst {
			worst, at = p.HealthzP99, p.Name
		}
	}
	row.Values["healthz_p99_ms"], row.Values["worst_phase_healthz_p99_ms"], row.Values["healthz_failed"] = run.HealthzP99, worst, float64(failed)
	row.Pass = run.HealthzP99 <= 5 && failed == 0
	row.Measured = fmt.Sprintf("p99 %.2f ms over %d probes at 100/s; worst phase alone %.2f ms (%s, about %d probes); %d failed",
		run.HealthzP99, run.HealthzN, worst, at, run.HealthzN/len(run.Phases), failed)
	return nil
}

// 15. The dispatch path costs no more than before, and less for short jobs.
func (b *bench) dispatchCost(_ context.Context, row *Row) error {
	var share float64
	ok := true
	for _, r := range b.report.Rows {
		switch r.ID {
		case 1:
			share = r.Values["efficiency_100µs"]
		case 2, 3, 4:
			ok = ok && r.Pass
		}
	}
	if share == 0 {
		return fmt.Errorf("row 1 measured no work efficiency at -work 100us")
	}
	row.Values["work_share_100us"] = share
	row.Pass = share >= 0.8 && ok
	row.Measured = fmt.Sprintf("%.0f%% of the server's CPU in the jobs at 100µs (default policy); rows 2-4 %s", 100*share, map[bool]string{true: "pass", false: "do not all pass"}[ok])
	return nil
}
