package experiment

import (
	"cmp"
	"slices"
)

// Summarize folds the runs of each configuration and engine into one row,
// in the order configurations first appear: the median of every rate,
// latency and CPU figure (robust to the one run a noisy neighbour
// disturbed), the sum of the 503, error and failed-probe counts (any of
// them is worth seeing), and the range of the request rate.
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
		med := func(f func(Row) float64) float64 {
			v := make([]float64, len(g))
			for i, r := range g {
				v[i] = f(r)
			}
			return median(v)
		}
		optMed := func(f func(Row) *float64) *float64 {
			var v []float64
			for _, r := range g {
				if p := f(r); p != nil {
					v = append(v, *p)
				}
			}
			if len(v) == 0 {
				return nil
			}
			return ptr(median(v))
		}
		s.Throughput = med(func(r Row) float64 { return r.Throughput })
		s.ThroughputMin = slices.MinFunc(g, func(a, b Row) int { return cmp.Compare(a.Throughput, b.Throughput) }).Throughput
		s.ThroughputMax = slices.MaxFunc(g, func(a, b Row) int { return cmp.Compare(a.Throughput, b.Throughput) }).Throughput
		s.Requests = int64(med(func(r Row) float64 { return float64(r.Requests) }))
		s.P50Ms = med(func(r Row) float64 { return r.P50Ms })
		s.P99Ms = med(func(r Row) float64 { return r.P99Ms })
		s.P999Ms = med(func(r Row) float64 { return r.P999Ms })
		s.HealthzP99Ms = optMed(func(r Row) *float64 { return r.HealthzP99Ms })
		s.Accepted = int64(med(func(r Row) float64 { return float64(r.Accepted) }))
		s.Completed = int64(med(func(r Row) float64 { return float64(r.Completed) }))
		s.Rejected = int64(med(func(r Row) float64 { return float64(r.Rejected) }))
		s.ServerCPUMsPerRequest = med(func(r Row) float64 { return r.ServerCPUMsPerRequest })
		s.ServerCPUCores = med(func(r Row) float64 { return r.ServerCPUCores })
		s.GeneratorCPUCores = med(func(r Row) float64 { return r.GeneratorCPUCores })
		s.OtherCPUCores = med(func(r Row) float64 { return r.OtherCPUCores })
		s.ElapsedS = med(func(r Row) float64 { return r.ElapsedS })
		for _, r := range g {
			s.Status503 += r.Status503
			s.Errors += r.Errors
			s.HealthzFailed += r.HealthzFailed
		}
		out = append(out, s)
	}
	return out
}

// median returns the middle value of v, or the mean of the two middle
// values; v is sorted in place.
func median(v []float64) float64 {
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
