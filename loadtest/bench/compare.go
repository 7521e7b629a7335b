package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"offload/config"
	"offload/loadtest"
	"offload/loadtest/experiment"
	"offload/loadtest/observe"
)

// engine names the closed-loop load generator: wrk when it is installed
// (it leaves more of the shared CPU to the server), else the built-in one.
func engine() string {
	if _, err := exec.LookPath("wrk"); err == nil {
		return "wrk"
	}
	return "built-in generator"
}

// closedLoop drives url with conns closed-loop connections of the engine
// for d and returns the requests per second, which must all get a 2xx.
func closedLoop(ctx context.Context, url string, conns int, d time.Duration, closeEach bool) (float64, error) {
	e := experiment.Builtin
	if engine() == "wrk" {
		e = experiment.Wrk
	}
	cfg := loadtest.Config{URL: url, Connections: conns, Duration: d, Close: closeEach}
	row, err := experiment.ClosedLoop(ctx, e, 2, cfg)
	if n := row.Errors + row.Status503; err == nil && n > 0 {
		err = fmt.Errorf("%d failed requests or non-2xx answers from %s", n, url)
	}
	return row.Throughput, err
}

// side is one server of a side-by-side comparison.
type side struct {
	name   string
	binary string
	tune   func(*config.Config)
}

// compare alternates closed-loop load on path between the two servers for
// three rounds of 64 connections, and returns each side's per-round
// requests per second and server CPU seconds per request.
func (b *bench) compare(ctx context.Context, path string, servers [2]*observe.Server) (rps, cpu [2][]float64,
	err error) {
	d := b.scaled(3 * time.Second)
	for range 3 {
		for i, srv := range servers {
			var r float64
			delta, err := srv.Measure(ctx, func() (err error) {
				r, err = closedLoop(ctx, srv.URL(path), 64, d, false)
				return err
			})
			if err != nil {
				return rps, cpu, err
			}
			rps[i] = append(rps[i], r)
			cpu[i] = append(cpu[i], delta.ServerCPU/(r*d.Seconds()))
		}
	}
	return rps, cpu, nil
}

// sideBySide fills row with a comparison of server c against baseline a:
// it passes when c's median throughput is at least want × a's.
func (b *bench) sideBySide(ctx context.Context, row *Row, path string, want float64, a, c side) error {
	var rps, cpu [2][]float64
	err := b.withServer(ctx, a.binary, a.tune, func(srvA *observe.Server) error {
		return b.withServer(ctx, c.binary, c.tune, func(srvC *observe.Server) (err error) {
			rps, cpu, err = b.compare(ctx, path, [2]*observe.Server{srvA, srvC})
			return err
		})
	})
	if err != nil {
		return err
	}
	base, other := experiment.Median(rps[0]), experiment.Median(rps[1])
	ratio := other / base
	cpuRatio := experiment.Median(cpu[0]) / experiment.Median(cpu[1])
	key := func(name string) string { return strings.ReplaceAll(name, " ", "_") + "_rps" }
	row.Values[key(a.name)], row.Values[key(c.name)], row.Values["ratio"] = base, other, ratio
	row.Values["cpu_per_request_ratio"] = cpuRatio
	row.Pass = ratio >= want
	row.Measured = fmt.Sprintf("%.2f (%s %.0f req/s, %s %.0f req/s); server CPU per request %s/%s %.2f",
		ratio, c.name, other, a.name, base, a.name, c.name, cpuRatio)
	row.Notes = append(row.Notes, fmt.Sprintf("medians of 3 alternating rounds, 64 keep-alive connections, %s", engine()))
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
	return b.sideBySide(ctx, row, "/healthz", 0.9,
		side{"bare fasthttp", b.cfg.Plain, nil}, side{"offload", b.cfg.Server, nil})
}
