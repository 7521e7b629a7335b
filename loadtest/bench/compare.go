package bench

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"offload/config"
	"offload/loadtest"
	"offload/loadtest/observe"
	"offload/loadtest/wrk"
)

// closedLoop drives url with conns closed-loop connections for d and
// returns the requests per second, using wrk when it is installed (it
// leaves more of the shared CPU to the server) and the built-in generator
// otherwise.
func (b *bench) closedLoop(ctx context.Context, url string, conns int, d time.Duration, closeEach bool) (float64, string, error) {
	if _, err := exec.LookPath("wrk"); err == nil {
		res, _, err := wrk.Run(ctx, wrk.Options{
			Threads: 2, Connections: conns, Duration: max(time.Second, d.Round(time.Second)), Close: closeEach, URL: url,
		})
		if err != nil {
			return 0, "wrk", err
		}
		if n := res.Errors.Socket() + res.Errors.Status; n > 0 {
			return 0, "wrk", fmt.Errorf("wrk saw %d errors or non-2xx answers from %s", n, url)
		}
		return res.RequestsPerSec(), "wrk", nil
	}
	res, err := loadtest.Run(ctx, loadtest.Config{URL: url, Connections: conns, Duration: d, Close: closeEach})
	if err != nil {
		return 0, "built-in generator", err
	}
	if n := res.Outcomes.Errors(); n > 0 {
		return 0, "built-in generator", fmt.Errorf("%d failed requests to %s", n, url)
	}
	return res.Throughput, "built-in generator", nil
}

// side is one server of a side-by-side comparison: a name, its binary and
// its settings.
type side struct {
	name   string
	binary string
	tune   func(*config.Config)
}

// abResult is one side of an A/B comparison.
type abResult struct {
	rps, cpuPerReq []float64
}

// compare alternates closed-loop load between servers a and b for rounds
// rounds, so both see the same machine conditions, and returns each side's
// per-round requests per second and server CPU seconds per request.
func (b *bench) compare(ctx context.Context, path string, servers [2]*observe.Server, rounds int, conns int) ([2]abResult, string, error) {
	var out [2]abResult
	var engine string
	for range rounds {
		for i, srv := range servers {
			before, err := srv.Snapshot(ctx)
			if err != nil {
				return out, engine, err
			}
			rps, eng, err := b.closedLoop(ctx, srv.URL(path), conns, b.scaled(3*time.Second), false)
			if err != nil {
				return out, eng, err
			}
			engine = eng
			after, err := srv.Snapshot(ctx)
			if err != nil {
				return out, engine, err
			}
			d := after.Since(before)
			out[i].rps = append(out[i].rps, rps)
			out[i].cpuPerReq = append(out[i].cpuPerReq, d.ServerCPU/(rps*b.scaled(3*time.Second).Seconds()))
		}
	}
	return out, engine, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// sideBySide fills row with a comparison of server c against baseline a
// under the same closed-loop load on path, alternating between them: it
// passes when c's median throughput is at least want × a's.
func (b *bench) sideBySide(ctx context.Context, row *Row, path string, want float64, a, c side) error {
	var pair [2]*observe.Server
	for i, s := range []side{a, c} {
		srv, err := b.start(ctx, s.binary, s.tune)
		if err != nil {
			if i == 1 {
				err = stop(ctx, pair[0], err)
			}
			return err
		}
		pair[i] = srv
	}
	res, engine, err := b.compare(ctx, path, pair, 3, 64)
	if err = stop(ctx, pair[1], stop(ctx, pair[0], err)); err != nil {
		return err
	}
	base, other := median(res[0].rps), median(res[1].rps)
	ratio := other / base
	cpuRatio := median(res[0].cpuPerReq) / median(res[1].cpuPerReq)
	key := func(name string) string { return strings.ReplaceAll(name, " ", "_") + "_rps" }
	row.Values[key(a.name)], row.Values[key(c.name)], row.Values["ratio"] = base, other, ratio
	row.Values["cpu_per_request_ratio"] = cpuRatio
	row.Pass = ratio >= want
	row.Measured = fmt.Sprintf("%.2f (%s %.0f req/s, %s %.0f req/s); server CPU per request %s/%s %.2f",
		ratio, c.name, other, a.name, base, a.name, c.name, cpuRatio)
	row.Notes = append(row.Notes, fmt.Sprintf("medians of 3 alternating rounds, 64 keep-alive connections, %s", engine))
	return nil
}

// 2. Hand-off cost: offload against inline at the smallest work.
func (b *bench) handOff(ctx context.Context, row *Row) error {
	mode := func(m string) func(*config.Config) {
		return func(c *config.Config) { c.Mode, c.Work = m, 0 }
	}
	err := b.sideBySide(ctx, row, "/data", 0.85,
		side{"inline", b.cfg.Server, mode(config.ModeInline)}, side{"offload", b.cfg.Server, mode(config.ModeOffload)})
	row.Notes = append(row.Notes, "the Go benchmarks of the same path (BenchmarkHandOff, BenchmarkData) are in "+
		"go-bench.txt next to this report: make bench runs them")
	return err
}

// 3. Acceptor overhead: offload's /healthz against a bare fasthttp server.
func (b *bench) acceptorOverhead(ctx context.Context, row *Row) error {
	return b.sideBySide(ctx, row, "/healthz", 0.9, side{"bare fasthttp", b.cfg.Plain, nil}, side{"offload", b.cfg.Server, nil})
}
