// Command plainserver is a test-only baseline for benchmarks: a bare
// fasthttp server answering /healthz like offload does, with no acceptor
// wrapper, no connection limit, no router and no request metrics. It uses offload's
// fasthttp settings (timeouts, buffer sizes, memory mode), so that comparing
// the two measures what offload's accept loop, handlers and accounting cost
// per request, not what its timeouts cost.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"offload/config"
	"offload/serverlog"
)

func main() {
	// The server's own flags, so that the harness starts either program
	// from the same config.Config; only -addr, the HTTP timeouts and sizes,
	// and -metrics-addr apply here.
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.RegisterFlags(flag.CommandLine)
	flag.Parse()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plainserver:", err)
		os.Exit(1)
	}
	// The ready record offload logs, so that one harness can start either.
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Info(serverlog.MsgReady, serverlog.AttrAddr, ln.Addr().String())
	srv := &fasthttp.Server{
		Name:               "plain",
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		ReadBufferSize:     cfg.MaxHeaderBytes,
		MaxRequestBodySize: cfg.MaxBody,
		ReduceMemoryUsage:  true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString("ok\n")
		},
	}
	// Process metrics only, on their own listener as offload has them, so
	// that the harness can snapshot either program; nothing on the measured
	// listener's path counts anything.
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "plainserver: metrics listener:", err)
			os.Exit(1)
		}
		go func() {
			_ = fasthttp.Serve(mln, func(ctx *fasthttp.RequestCtx) {
				ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
				metrics.WriteProcessMetrics(ctx)
			})
		}()
	}
	// Drain on SIGTERM and exit 0, as offload does, so one harness can
	// stop either and check the exit status.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = srv.Shutdown()
	}()
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "plainserver:", err)
		os.Exit(1)
	}
}
