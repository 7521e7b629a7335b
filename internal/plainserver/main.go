// Command plainserver is a test-only baseline for benchmarks: a bare
// fasthttp server answering /healthz like offload does, with no acceptor
// wrapper, no connection limit, no router and no metrics. It uses offload's
// fasthttp settings (timeouts, buffer sizes, memory mode), so that comparing
// the two measures what offload's accept loop, handlers and accounting cost
// per request, not what its timeouts cost.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"

	"offload/config"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "TCP `address` to listen on")
	// Accepted for the benchmark harness, which passes them to every server.
	_ = flag.String("log-format", "text", "ignored")
	_ = flag.String("metrics-addr", "", "ignored: the plain server has no metrics")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plainserver:", err)
		os.Exit(1)
	}
	// The same line offload logs, so that one harness can start either.
	fmt.Fprintf(os.Stderr, "msg=\"offload ready\" addr=%s\n", ln.Addr())
	cfg := config.Default()
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
