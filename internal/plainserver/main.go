// Command plainserver is a test-only baseline for benchmarks: a bare
// fasthttp server answering /healthz like offload does, with no acceptor
// wrapper, no connection limit and no metrics. Comparing the two measures
// what offload's production accept loop and accounting cost per request.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "TCP `address` to listen on")
	// Accepted for the benchmark harness, which passes it to every server.
	_ = flag.String("log-format", "text", "ignored")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plainserver:", err)
		os.Exit(1)
	}
	// The same line offload logs, so that one harness can start either.
	fmt.Fprintf(os.Stderr, "msg=\"offload ready\" addr=%s\n", ln.Addr())
	srv := &fasthttp.Server{
		Name: "plain",
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
