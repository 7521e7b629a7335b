package experiment

import (
	"slices"
)

// Summarize folds the runs of each configuration and engine into one row,
// in the order they first appear: the median of every figure, the sum of
// the 503, error and failed-probe counts, and the range of the rate.
func Summarize(rows []Row) []Row {
	type key struct {
		mode   string
		engine Engine
		pool   int
	}
	var order []key
	groups := map[key][]Row{}
	for _, r := range rows {
		k := key{r.Mode, r.Engine, r.Pool}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]Row, 0, len(order))
	for _, k := range order {
		g := groups[k]
		s := Row{Mode: k.mode, Engine: k.engine, Pool: k.pool, Runs: len(g)}
		values := func(f func(Row) float64) []float64 {
			v := make([]float64, len(g))
			for i, r := range g {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v
		}
		med := func(f func(Row) float64) float64 { return Median(values(f)) }
		tp := values(func(r Row) float64 { return r.Throughput })
		s.Throughput, s.ThroughputMin, s.ThroughputMax = Median(tp), tp[0], tp[len(tp)-1]
		s.Requests = int64(med(func(r Row) float64 { return float64(r.Requests) }))
		s.P50Ms = med(func(r Row) float64 { return r.P50Ms })
		s.P99Ms = med(func(r Row) float64 { return r.P99Ms })
		s.P999Ms = med(func(r Row) float64 { return r.P999Ms })
		s.Accepted = int64(med(func(r Row) float64 { return float64(r.Accepted) }))
		s.Completed = int64(med(func(r Row) float64 { return float64(r.Completed) }))
		s.Rejected = int64(med(func(r Row) float64 { return float64(r.Rejected) }))
		s.ServerCPUMsPerRequest = med(func(r Row) float64 { return r.ServerCPUMsPerRequest })
		s.ServerCPUCores = med(func(r Row) float64 { return r.ServerCPUCores })
		s.GeneratorCPUCores = med(func(r Row) float64 { return r.GeneratorCPUCores })
		s.OtherCPUCores = med(func(r Row) float64 { return r.OtherCPUCores })
		s.ElapsedS = med(func(r Row) float64 { return r.ElapsedS })
		var healthz []float64 // the runs whose probe got answers
		for _, r := range g {
			s.Status503 += r.Status503
			s.Errors += r.Errors
			s.HealthzFailed += r.HealthzFailed
			if r.HealthzP99Ms != nil {
				healthz = append(healthz, *r.HealthzP99Ms)
			}
		}
		if len(healthz) > 0 {
			s.HealthzP99Ms = ptr(Median(healthz))
		}
		out = append(out, s)
	}
	return out
}

// Median returns the median of v, 0 for none; v is sorted in place.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
