// Command server runs offload: an HTTP server that does CPU work on /data
// through a bounded worker pool while its acceptors only do IO.
//
// Run "server -h" for every flag and its default. The first SIGTERM or
// SIGINT starts a graceful shutdown (exit 0 once drained, 1 if
// -shutdown-timeout runs out); a second one exits at once with status 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"offload/config"
	"offload/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	cfg := config.Default()
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: server [flags]

Serves /data (CPU work through a bounded worker pool), /healthz, /readyz and
/metrics. SIGTERM or SIGINT drains and exits; a second signal exits at once.

Flags:
`)
		fs.PrintDefaults()
	}
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "server: unexpected arguments %q; run server -h for usage\n", fs.Args())
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "server: invalid flags:\n%v\n", err)
		return 2
	}
	cfg = cfg.Resolved()

	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var handler slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(stderr, opts)
	}
	log := slog.New(handler)

	// Workers hold a P for as long as a job runs; with every P held, the Go
	// scheduler looks for network events only every 10 ms. Keeping -io-procs
	// Ps beyond the pool lets an idle P wait in the network poller.
	if want := cfg.Pool + cfg.IOProcs; cfg.Mode == config.ModeOffload && cfg.IOProcs > 0 && runtime.GOMAXPROCS(0) < want {
		log.Info("raising GOMAXPROCS so that IO always has a P", "from", runtime.GOMAXPROCS(0), "to", want,
			"pool", cfg.Pool, "io_procs", cfg.IOProcs)
		runtime.GOMAXPROCS(want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	go func() {
		sig, ok := <-signals
		if !ok {
			return
		}
		log.Info("received signal; draining (send it again to exit at once)", "signal", sig.String())
		cancel()
		if sig, ok = <-signals; ok {
			log.Warn("received a second signal; exiting without draining", "signal", sig.String())
			os.Exit(1)
		}
	}()

	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := srv.Run(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}
