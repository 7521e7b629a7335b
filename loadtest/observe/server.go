package observe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"offload/config"
	"offload/serverlog"
)

// Defaults applied to zero Config fields.
const (
	DefaultReadyTimeout = 15 * time.Second
	DefaultStopTimeout  = 20 * time.Second
)

const logLines = 200 // the server's last log lines kept for error messages

// Config says how to start a server process.
type Config struct {
	// Binary is the server executable, e.g. "bin/server".
	Binary string
	// Server is the server's configuration, passed as Server.Args(); start
	// from config.Default(). Start sets Addr (from the field below),
	// LogFormat "json" and MetricsAddr (a free port, for Snapshot) itself.
	Server config.Config
	// Addr is the server's -addr; empty means 127.0.0.1:0, a free port.
	Addr string
	// Procs is the server's GOMAXPROCS; 0 leaves the runtime's default.
	Procs int
	// ReadyTimeout bounds the wait until /healthz answers 200, and
	// StopTimeout Stop's wait for the exit after SIGTERM; zero for the
	// defaults above (the latter above the server's -shutdown-timeout).
	ReadyTimeout, StopTimeout time.Duration
	// OnRecord, if set, is called with every record of the server's log,
	// in order, from the goroutine copying its output: it must return
	// quickly and must not call Running, Stop or Kill, which read the log.
	OnRecord func(serverlog.Record)
}

// Server is a running server child process. Its methods are safe for
// concurrent use. Every Server must be ended with Stop or Kill, which also
// ends the goroutine that waits for it.
type Server struct {
	cfg         Config
	cmd         *exec.Cmd
	proc        procfs.Proc
	addr        string
	metricsAddr string // the -metrics-addr listener
	logs        *logRing

	exited  chan struct{} // closed once the process has exited and been reaped
	waitErr error         // what cmd.Wait returned; read after exited is closed

	stopOnce sync.Once
	stopErr  error
}

// Start starts the server cfg describes and returns once it listens and
// /healthz answers 200. ctx bounds only the start-up; the process lives
// until Stop or Kill. When the server exits or stays unhealthy, Start kills
// it and returns a *ServerError carrying its log tail.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	metricsAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	server := cfg.Server
	server.Addr, server.LogFormat, server.MetricsAddr = cfg.Addr, "json", metricsAddr
	cmd := exec.Command(cfg.Binary, server.Args()...)
	// The last value wins, and an empty one is the runtime's default.
	procs := ""
	if cfg.Procs > 0 {
		procs = strconv.Itoa(cfg.Procs)
	}
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+procs)
	logs := newLogRing(logLines, cfg.OnRecord)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that ^C in a terminal reaches only the
		// experiment, which then stops the server with a single SIGTERM
		// (a second signal would make it exit at once, with status 1).
		Setpgid: true,
		// Killed with the experiment if the experiment dies, so that no
		// server is left holding CPU for the next run.
		Pdeathsig: syscall.SIGKILL,
	}
	// A grandchild holding the log pipe must not keep Wait from returning.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, &ServerError{Op: "could not be started", Err: err}
	}
	s := &Server{cfg: cfg, cmd: cmd, logs: logs, metricsAddr: metricsAddr, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if s.proc, err = procfs.NewProc(cmd.Process.Pid); err != nil {
		s.Kill()
		return nil, fmt.Errorf("server process in /proc: %w", err)
	}
	if err := s.awaitHealthy(ctx); err != nil {
		s.Kill()
		return nil, err
	}
	return s, nil
}

// CheckBinary returns a one-line error saying what to do when path is not
// an executable file.
func CheckBinary(path string) error {
	if path == "" {
		return errors.New("server binary not set")
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s not found: run make build first", path)
	}
	if err != nil {
		return fmt.Errorf("server binary: %w", err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file: run make build first", path)
	}
	return nil
}

// checkConfig validates cfg and fills in its defaults.
func checkConfig(cfg *Config) error {
	if err := CheckBinary(cfg.Binary); err != nil {
		return err
	}
	if err := cfg.Server.Validate(); err != nil {
		return fmt.Errorf("server settings (start from config.Default()): %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if cfg.Server.LogLevel > slog.LevelInfo {
		return fmt.Errorf("server log level %v hides the %q record Start waits for; use info or debug", cfg.Server.LogLevel, serverlog.MsgReady)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Procs < 0 {
		return fmt.Errorf("server GOMAXPROCS must be >= 0 (got %d)", cfg.Procs)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	return nil
}

// awaitHealthy waits for the ready record, then polls /healthz until it
// answers 200.
func (s *Server) awaitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	select {
	case s.addr = <-s.logs.ready:
	case <-s.exited:
		return s.failure("exited before it listened", s.exitErr())
	case <-ctx.Done():
		return s.failure(fmt.Sprintf("logged no %q record within %v", serverlog.MsgReady, s.cfg.ReadyTimeout), context.Cause(ctx))
	}

	// /healthz answers once the accept loops run, a moment after the ready
	// record.
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	var last error
	for {
		code, _, err := Get(ctx, s.URL("/healthz"), time.Second)
		if err == nil && code == 200 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("/healthz answered %d", code)
		}
		// An attempt cut short by the deadline says less than the one
		// before it (e.g. "connection refused"). The clock decides, as the
		// dial's own timer can fire a moment before ctx reports it.
		if dl, _ := ctx.Deadline(); last == nil || time.Now().Before(dl) {
			last = err
		}
		select {
		case <-s.exited:
			return s.failure("exited before it was healthy", s.exitErr())
		case <-ctx.Done():
			return s.failure(fmt.Sprintf("not healthy within %v", s.cfg.ReadyTimeout), last)
		case <-poll.C:
		}
	}
}

// Running returns nil while the process runs, and a *ServerError saying
// how it ended once it has exited: call it after a measurement to tell a
// crashed server from a slow one.
func (s *Server) Running() error {
	select {
	case <-s.exited:
		return s.failure("exited during the run", s.exitErr())
	default:
		return nil
	}
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// URL returns the http URL of path (e.g. "/data") on the server.
func (s *Server) URL(path string) string { return "http://" + s.addr + path }

// MetricsURL is the server's /metrics on its -metrics-addr listener, which
// answers even when the service port is full.
func (s *Server) MetricsURL() string { return "http://" + s.metricsAddr + "/metrics" }

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM and waits until the server has drained and exited. It
// returns nil only if the server exited with status 0 within ctx's deadline
// and StopTimeout; otherwise, or if it had already exited, it kills the
// server and returns a *ServerError. Later calls return the first result.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	select {
	case <-s.exited:
		return s.failure("had exited before it was stopped", s.exitErr())
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.kill()
		return s.failure("could not be sent SIGTERM", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StopTimeout)
	defer cancel()
	select {
	case <-s.exited:
		if s.waitErr != nil {
			return s.failure("did not exit cleanly after SIGTERM", s.waitErr)
		}
		return nil
	case <-ctx.Done():
		s.kill()
		return s.failure("did not exit after SIGTERM in time; killed it", context.Cause(ctx))
	}
}

// Kill ends the server at once with SIGKILL and waits until it is gone;
// later Stop calls return an error.
func (s *Server) Kill() {
	s.stopOnce.Do(func() {
		s.kill()
		s.stopErr = s.failure("was killed", nil)
	})
	<-s.exited
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill() // fails only if it has exited, which is the goal
	<-s.exited
}

// WithServer starts the server cfg describes, runs f against it and stops
// it. When f succeeds the server must still run and drain cleanly, or its
// numbers would hide a bug; when f fails, WithServer kills the server and
// returns f's error.
func WithServer(ctx context.Context, cfg Config, f func(*Server) error) error {
	srv, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	if err = f(srv); err == nil {
		err = srv.Running()
	}
	if err != nil {
		srv.Kill()
		return err
	}
	return srv.Stop(context.WithoutCancel(ctx))
}
