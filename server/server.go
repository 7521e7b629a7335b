// Package server wires offload together, in the order a request travels:
// acceptor group → fasthttp → handlers → worker pool → handlers → response.
// It owns the start-up checks and log line, the optional stats line, and the
// graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"offload/acceptor"
	"offload/config"
	"offload/handlers"
	"offload/internal/ratelimit"
	"offload/metrics"
	"offload/overload"
	"offload/serverlog"
	"offload/work"
	"offload/workers"
)

// calibrationBudget is how long start-up spends measuring the work's cost.
const calibrationBudget = 200 * time.Millisecond

// Server is one offload instance: listeners bound, pool started, ready to
// Run.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	m        *metrics.Metrics
	tracker  *acceptor.Tracker
	group    *acceptor.Group
	pool     *workers.Pool // nil in inline mode
	runner   workers.Runner
	http     *fasthttp.Server
	side     []*sideServer // -metrics-addr and -debug-addr, one each or one for both
	draining atomic.Bool
}

// New checks cfg against the machine, calibrates the work, binds the
// listeners and starts the worker pool. Call Run to serve.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	cfg = cfg.Resolved()
	fdLimit, err := acceptor.FDLimit()
	if err != nil {
		return nil, err
	}
	reserve := config.FDReserve(cfg.Acceptors)
	if cfg.MaxConns == 0 {
		cfg.MaxConns = max(1, fdLimit-reserve)
	}
	if cfg.MaxConns+reserve > fdLimit {
		log.Warn("-max-conns plus the server's own descriptors exceeds the fd limit: expect \"too many open files\" under load",
			"max_conns", cfg.MaxConns, "reserve", reserve, "fd_limit", fdLimit,
			"hint", fmt.Sprintf("set -max-conns to at most %d or raise the limit (ulimit -n, LimitNOFILE= in systemd)", max(1, fdLimit-reserve)))
	}
	somaxconn, err := acceptor.Somaxconn()
	if err != nil {
		log.Warn("cannot check -backlog against the kernel's cap", "err", err)
	} else if cfg.Backlog > somaxconn {
		log.Warn("-backlog exceeds net.core.somaxconn; the kernel uses the smaller value",
			"backlog", cfg.Backlog, "somaxconn", somaxconn,
			"hint", fmt.Sprintf("sysctl -w net.core.somaxconn=%d, or lower -backlog", cfg.Backlog))
	}

	cal := work.Calibration{NanosPerIteration: cfg.WorkIterationNs}
	if cal.NanosPerIteration == 0 {
		if cal, err = work.Calibrate(calibrationBudget); err != nil {
			return nil, err
		}
	}
	m := metrics.New()
	m.WorkIteration.Set(cal.NanosPerIteration / 1e9)
	m.WorkIterations.Set(float64(cal.Iterations(cfg.Work)))

	s := &Server{cfg: cfg, log: log, m: m}
	var runner workers.Runner = workers.NewInline(m)
	if cfg.Mode == config.ModeOffload {
		q := cfg.QueuePolicy()
		q.Changed = func(st overload.Stats) { logOverload(log, st) }
		s.pool, err = workers.NewPool(workers.Config{Queue: q, WorkerNice: cfg.WorkerNice}, m)
		if err != nil {
			return nil, err
		}
		ctrl := s.pool.Controller()
		m.ObserveOverload(func() overload.Stats { return ctrl.Stats(time.Now()) })
		runner = s.pool
	}

	s.tracker = acceptor.NewTracker(acceptor.Config{MaxConns: cfg.MaxConns, Pause: cfg.AcceptPause, FDReserve: reserve}, log, m)
	s.group, err = acceptor.Listen(ctx, acceptor.GroupConfig{
		Addr: cfg.Addr, Acceptors: cfg.Acceptors, Backlog: cfg.Backlog, KeepAlive: cfg.TCPKeepAlive,
	}, s.tracker)
	if err != nil {
		if s.pool != nil {
			s.pool.Stop()
		}
		return nil, err
	}

	m.ObserveListenQueue(s.group.ListenQueue)
	m.SetConfig(metrics.Config{
		Mode: cfg.Mode, Overload: cfg.Overload, QueueOrder: cfg.QueueOrder,
		Workers: cfg.Pool, Queue: cfg.Queue, MaxConns: cfg.MaxConns,
	})

	if err := s.startSide(ctx); err != nil {
		s.closeSide()
		s.group.Close()
		if s.pool != nil {
			s.pool.Stop()
		}
		return nil, err
	}

	s.runner = runner
	h := handlers.New(handlers.Config{
		Runner:      runner,
		Calibration: cal,
		DefaultWork: cfg.Work,
		MaxWork:     cfg.MaxWork,
		QueueSize:   cfg.Queue,
		Draining:    s.draining.Load,
		Metrics:     m,
	})
	s.http = &fasthttp.Server{
		Handler:            h.Serve,
		ErrorHandler:       handlers.ErrorHandler(m, cfg.MaxHeaderBytes, cfg.MaxBody),
		Name:               "offload",
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		ReadBufferSize:     cfg.MaxHeaderBytes,
		MaxRequestBodySize: cfg.MaxBody,
		// The acceptors enforce -max-conns; fasthttp's own limit must
		// never be the smaller one, or it would answer 503 and close.
		Concurrency:     cfg.MaxConns + 1,
		CloseOnShutdown: true,
		// An idle keep-alive connection gives its read and write buffers
		// back to a pool: 10,000 idle connections cost about 6 KB each
		// instead of 16 KB, for a pool round trip per request.
		ReduceMemoryUsage: true,
		// fasthttp keeps a goroutine per recently used connection slot for
		// this long; a short time keeps idle goroutines few after a burst.
		MaxIdleWorkerDuration: 2 * time.Second,
		Logger:                &fasthttpLogger{log: log, limit: ratelimit.New(time.Second)},
	}

	log.Info(serverlog.MsgReady,
		serverlog.AttrAddr, s.group.Addr().String(), "mode", cfg.Mode, "pool", cfg.Pool, "queue", cfg.Queue,
		"overload", cfg.Overload, "queue_order", cfg.QueueOrder,
		"acceptors", cfg.Acceptors, "max_conns", cfg.MaxConns, "fd_limit", fdLimit,
		"backlog", cfg.Backlog, "somaxconn", somaxconn, "gomaxprocs", runtime.GOMAXPROCS(0),
		"work", cfg.Work, "work_iterations", cal.Iterations(cfg.Work),
		"ns_per_iteration", fmt.Sprintf("%.2f", cal.NanosPerIteration))
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.group.Addr() }

// Metrics is the server's metric set.
func (s *Server) Metrics() *metrics.Metrics { return s.m }

// Run serves until ctx is cancelled, then shuts down gracefully: it stops
// accepting, turns /readyz to 503, lets in-flight and queued jobs finish and
// answer, and closes idle keep-alive connections. It returns nil once
// everything has drained. If that takes longer than -shutdown-timeout it
// closes the remaining connections and returns an error; it also returns an
// error if an acceptor failed.
func (s *Server) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.group.Serve(s.http.Serve) }()

	// Stats go on during the drain, so they stop when Run returns.
	statsCtx, stopStats := context.WithCancel(context.Background())
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		if s.cfg.StatsInterval > 0 {
			s.printStats(statsCtx, s.cfg.StatsInterval)
		}
	}()
	defer func() { stopStats(); <-statsDone }()

	var failure error
	serveReturned := false
	select {
	case <-ctx.Done():
		s.log.Info("shutting down: no new connections; draining in-flight requests",
			"connections", s.tracker.Active(), "jobs", s.jobsInFlight(), "timeout", s.cfg.ShutdownTimeout)
	case failure = <-served:
		serveReturned = true
		s.log.Error("an acceptor failed; shutting down", "err", failure)
	}
	failure = errors.Join(failure, s.shutdown())
	if !serveReturned {
		failure = errors.Join(failure, <-served)
	}
	return errors.Join(failure, s.closeSide())
}

// startSide starts the -metrics-addr and -debug-addr listeners: one
// listener serving both when the two addresses are the same.
func (s *Server) startSide(ctx context.Context) error {
	type side struct {
		flag, addr string
		routes     sideRoutes
	}
	var sides []side
	switch m, d := s.cfg.MetricsAddr, s.cfg.DebugAddr; {
	case m != "" && m == d:
		sides = []side{{"-metrics-addr and -debug-addr", m, sideRoutes{metrics: s.m, pprof: true}}}
	default:
		if m != "" {
			sides = append(sides, side{"-metrics-addr", m, sideRoutes{metrics: s.m}})
		}
		if d != "" {
			sides = append(sides, side{"-debug-addr", d, sideRoutes{pprof: true}})
		}
	}
	for _, sd := range sides {
		srv, err := startSide(ctx, sd.flag, sd.addr, sd.routes)
		if err != nil {
			return err
		}
		s.side = append(s.side, srv)
		s.log.Info("serving operators' endpoints", "flag", sd.flag, "addr", srv.ln.Addr().String(),
			"metrics", sd.routes.metrics != nil, "pprof", sd.routes.pprof)
	}
	return nil
}

func (s *Server) closeSide() error {
	var err error
	for _, d := range s.side {
		err = errors.Join(err, d.close())
	}
	return err
}

// MetricsAddr is the address of the -metrics-addr listener, or nil without
// one.
func (s *Server) MetricsAddr() net.Addr {
	if s.cfg.MetricsAddr == "" || len(s.side) == 0 {
		return nil
	}
	return s.side[0].ln.Addr()
}

// shutdown drains the server within -shutdown-timeout, or forces it.
func (s *Server) shutdown() error {
	s.draining.Store(true)
	// Stop accepting here rather than only through fasthttp's Shutdown,
	// which closes the listeners its Serve has registered: a shutdown that
	// comes before a Serve got that far would leave it accepting for ever.
	s.group.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()

	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s.log.Info(fmt.Sprintf("waiting on %d connections, %d jobs", s.tracker.Active(), s.jobsInFlight()))
			}
		}
	}()

	err := s.http.ShutdownWithContext(ctx)
	cancel()
	<-progressDone
	// Anything but the deadline is about closing listeners that a failed
	// acceptor had closed already: the drain itself completed.
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		if s.pool != nil {
			s.pool.Stop()
		}
		s.log.Info("shutdown complete", "took", time.Since(start).Round(time.Millisecond),
			"connections_accepted", s.m.ConnectionsAccepted.Get(), "connections_closed", s.m.ConnectionsClosed.Get(),
			"requests_answered", s.m.Answered())
		return nil
	}

	conns, jobs := s.tracker.Active(), s.jobsInFlight()
	s.log.Error("shutdown timed out: closing connections", "timeout", s.cfg.ShutdownTimeout,
		"connections", conns, "jobs", jobs)
	if s.pool != nil {
		s.pool.Abort() // queued jobs are dropped; running ones finish
	}
	s.tracker.CloseAll()
	if s.pool != nil {
		s.pool.Stop()
	}
	s.waitConnectionGoroutines(time.Second)
	return fmt.Errorf("shutdown timed out after %v with %d connections and %d jobs left", s.cfg.ShutdownTimeout, conns, jobs)
}

// waitConnectionGoroutines gives fasthttp's connection goroutines, whose
// connections were just closed, a moment to notice and return.
func (s *Server) waitConnectionGoroutines(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for s.http.GetOpenConnectionsCount() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *Server) jobsInFlight() int {
	return s.runner.Queued() + s.runner.Running()
}

// printStats logs a serverlog.Stats record every interval: the
// experiment's view of where work queues up, without Prometheus.
func (s *Server) printStats(ctx context.Context, interval time.Duration) {
	var st serverlog.Stats
	counters := []struct {
		rate *float64
		get  func() uint64
		last uint64
	}{
		{rate: &st.Accepted, get: s.m.ConnectionsAccepted.Get},
		{rate: &st.Closed, get: s.m.ConnectionsClosed.Get},
		{rate: &st.Submitted, get: s.m.JobsSubmitted.Get},
		{rate: &st.Completed, get: s.m.JobsCompleted.Get},
		{rate: &st.Rejected, get: s.m.JobsRejected.Get},
		{rate: &st.Dropped, get: s.m.JobsDropped.Get},
	}
	for i := range counters {
		counters[i].last = counters[i].get()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			// Read the clock with the counters, not the tick's timestamp:
			// a late tick would otherwise over-report one interval and
			// under-report the next.
			now := time.Now()
			secs := now.Sub(lastAt).Seconds()
			lastAt = now
			for i := range counters {
				c := &counters[i]
				v := c.get()
				*c.rate = math.Round(float64(v-c.last)/secs*10) / 10
				c.last = v
			}
			st.Queued, st.Running = float64(s.runner.Queued()), float64(s.runner.Running())
			st.Connections = float64(s.tracker.Active())
			s.log.LogAttrs(ctx, slog.LevelInfo, serverlog.MsgStats, st.Attrs()...)
		}
	}
}

// logOverload notes the start and end of an overload: at most one line per
// detection interval, by the controller's construction.
func logOverload(log *slog.Logger, st overload.Stats) {
	if st.Overloaded {
		log.Warn("overloaded: the work queue stood above its target for a whole interval; refusing what would wait past the bound",
			"target", st.Target.Round(time.Microsecond), "bound", st.Bound.Round(time.Microsecond), "queued", st.Queued,
			"job_wall", st.JobWall.Round(time.Microsecond), "episode", st.Episodes)
		return
	}
	log.Info("overload over: the work queue drained", "overloaded_for_total", st.OverloadedFor.Round(time.Millisecond), "episodes", st.Episodes)
}

// fasthttpLogger sends fasthttp's own messages (errors it met while serving
// a connection) to slog, at most one per second so that a flood of bad
// clients cannot flood the log.
type fasthttpLogger struct {
	log   *slog.Logger
	limit *ratelimit.Limiter
}

// Printf logs one fasthttp message.
func (l *fasthttpLogger) Printf(format string, args ...any) {
	if n, ok := l.limit.Allow(time.Now()); ok {
		l.log.Warn(fmt.Sprintf(format, args...), "component", "fasthttp", "suppressed", n)
	}
}
