package experiment

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"offload/loadtest"
)

// Defaults applied to zero ServerConfig fields.
const (
	DefaultReadyTimeout = 15 * time.Second
	DefaultStopTimeout  = 20 * time.Second
	DefaultLogLines     = 200
)

// userHZ is the unit of the CPU times in /proc/PID/stat. The kernel reports
// them in USER_HZ, which is 100 on every Linux architecture Go supports
// (sysconf(_SC_CLK_TCK), "getconf CLK_TCK"); Go has no sysconf without cgo,
// and a test checks the constant against getconf where it is installed.
const userHZ = 100

// ServerConfig says how to start a server process.
type ServerConfig struct {
	// Binary is the server executable, e.g. "bin/server".
	Binary string

	// Args are server flags. StartServer sets -addr (see Addr) and
	// -log-format text itself, because it reads the listening address from
	// the ready line, and -metrics-addr, where it reads the server's metrics
	// from; Args must not set -addr, -log-format or -metrics-addr, nor a
	// -log-level that hides that info-level line.
	Args []string

	// Addr is the server's -addr; empty means 127.0.0.1:0, a free port.
	Addr string

	// Procs is the server's GOMAXPROCS (set in its environment); 0 leaves
	// the Go runtime's default, every CPU.
	Procs int

	// ReadyTimeout bounds the wait from starting the process until
	// /healthz answers 200. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration

	// StopTimeout bounds Stop's wait for the process to exit after SIGTERM
	// when Stop's context has no earlier deadline. Default
	// DefaultStopTimeout, above the server's default -shutdown-timeout.
	StopTimeout time.Duration

	// LogLines is how many of the server's last log lines are kept for
	// error messages and LogTail. Default DefaultLogLines.
	LogLines int

	// Log, if set, receives a copy of everything the server writes.
	Log io.Writer

	// OnLine, if set, is called with every complete line the server logs,
	// in order, from the goroutine copying its output: it must return
	// quickly and must not call the ServerProcess's LogTail. Benchmarks use
	// it to read the server's -stats-interval lines.
	OnLine func(line string)
}

// ServerProcess is a running server child process listening on a free
// 127.0.0.1 port. Its methods are safe for concurrent use. Every
// ServerProcess must be ended with Stop or Kill, which also ends the
// goroutine that waits for it.
type ServerProcess struct {
	cfg         ServerConfig
	cmd         *exec.Cmd
	addr        string
	metricsAddr string // the -metrics-addr listener
	logs        *logRing

	exited  chan struct{} // closed once the process has exited and been reaped
	waitErr error         // what cmd.Wait returned; read after exited is closed

	stopOnce sync.Once
	stopErr  error
}

// ServerError reports a server process that failed to start, exited
// unexpectedly or did not stop cleanly. Its message is one line; Tail holds
// the server's last log lines for a closer look.
type ServerError struct {
	// PID is the process id, 0 if the process never started.
	PID int
	// Op is what went wrong, e.g. "exited with status 1 before it was healthy".
	Op string
	// Err is the underlying error, if any.
	Err error
	// Tail is the server's last log lines, oldest first.
	Tail []string
}

// Error returns one line: what happened and the server's most telling log
// line (its last error or warning, else its last line).
func (e *ServerError) Error() string {
	var b strings.Builder
	b.WriteString("server")
	if e.PID > 0 {
		fmt.Fprintf(&b, " (pid %d)", e.PID)
	}
	b.WriteString(" ")
	b.WriteString(e.Op)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if line := tellingLine(e.Tail); line != "" {
		fmt.Fprintf(&b, "; server log: %s", line)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ServerError) Unwrap() error { return e.Err }

// tellingLine picks the log line that most likely explains a failure.
func tellingLine(tail []string) string {
	for i := len(tail) - 1; i >= 0; i-- {
		if strings.Contains(tail[i], "level=ERROR") {
			return tail[i]
		}
	}
	for i := len(tail) - 1; i >= 0; i-- {
		if strings.Contains(tail[i], "level=WARN") {
			return tail[i]
		}
	}
	if len(tail) > 0 {
		return tail[len(tail)-1]
	}
	return ""
}

// StartServer starts the server described by cfg and returns once it
// listens and /healthz answers 200. ctx bounds only the start-up; the
// process lives until Stop or Kill. When the server exits or stays
// unhealthy, StartServer kills it and returns a *ServerError carrying its
// log tail.
func StartServer(ctx context.Context, cfg ServerConfig) (*ServerProcess, error) {
	if err := checkServerConfig(&cfg); err != nil {
		return nil, err
	}
	metricsAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	args := append([]string{"-addr", addr, "-log-format", "text", "-metrics-addr", metricsAddr}, cfg.Args...)
	cmd := exec.Command(cfg.Binary, args...)
	cmd.Env = environWith(os.Environ(), "GOMAXPROCS", cfg.Procs)
	logs := newLogRing(cfg.LogLines, cfg.Log, cfg.OnLine)
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
	s := &ServerProcess{cfg: cfg, cmd: cmd, logs: logs, metricsAddr: metricsAddr, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.awaitHealthy(ctx); err != nil {
		s.Kill()
		return nil, err
	}
	return s, nil
}

// CheckServerBinary returns a one-line error saying what to do when path is
// not an executable file.
func CheckServerBinary(path string) error {
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

// checkServerConfig validates cfg and fills in its defaults.
func checkServerConfig(cfg *ServerConfig) error {
	if err := CheckServerBinary(cfg.Binary); err != nil {
		return err
	}
	for i, a := range cfg.Args {
		_, value, hasValue := strings.Cut(a, "=")
		switch name := flagName(a); name {
		case "addr", "log-format", "metrics-addr":
			return fmt.Errorf("server flag %s is set by the experiment (it reads the address from the text log); remove it", a)
		case "log-level":
			if !hasValue && i+1 < len(cfg.Args) {
				value = cfg.Args[i+1]
			}
			if v := strings.ToLower(value); v == "warn" || v == "error" {
				return fmt.Errorf("server flag -log-level %s hides the \"offload ready\" line the experiment waits for; use info or debug", value)
			}
		}
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
	if cfg.LogLines <= 0 {
		cfg.LogLines = DefaultLogLines
	}
	return nil
}

// environWith returns env with name set to n, or removed when n is 0 so the
// child does not inherit the experiment's own setting.
func environWith(env []string, name string, n int) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	if n > 0 {
		out = append(out, name+"="+strconv.Itoa(n))
	}
	return out
}

// awaitHealthy waits for the ready line, then polls /healthz until it
// answers 200.
func (s *ServerProcess) awaitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	select {
	case s.addr = <-s.logs.ready:
	case <-s.exited:
		return s.failure("exited before it listened", s.exitErr())
	case <-ctx.Done():
		return s.failure(fmt.Sprintf("printed no \"offload ready\" line within %v", s.cfg.ReadyTimeout), context.Cause(ctx))
	}

	// The ready line comes as soon as the listeners are bound; /healthz
	// answers once the server runs its accept loops, a moment later.
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	var last error
	for {
		code, _, err := httpGet(ctx, s.addr, "/healthz", time.Second)
		if err == nil && code == http.StatusOK {
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

func (s *ServerProcess) failure(op string, err error) *ServerError {
	return &ServerError{PID: s.PID(), Op: op, Err: err, Tail: s.logs.tail()}
}

// exitErr describes how the process ended; call it after exited is closed.
func (s *ServerProcess) exitErr() error {
	if s.waitErr != nil {
		return s.waitErr
	}
	return errors.New("exit status 0")
}

// Addr is the host:port the server listens on.
func (s *ServerProcess) Addr() string { return s.addr }

// URL returns the http URL of path (e.g. "/data") on the server.
func (s *ServerProcess) URL(path string) string { return "http://" + s.addr + path }

// MetricsURL is the server's /metrics on its -metrics-addr listener, which
// answers even when the service port is full.
func (s *ServerProcess) MetricsURL() string { return "http://" + s.metricsAddr + "/metrics" }

// PID is the server's process id.
func (s *ServerProcess) PID() int { return s.cmd.Process.Pid }

// Procs is the GOMAXPROCS the server was started with, 0 for the runtime's
// default.
func (s *ServerProcess) Procs() int { return s.cfg.Procs }

// Exited is closed when the process has exited, whether through Stop or
// not; a benchmark can select on it to notice a crash during a run.
func (s *ServerProcess) Exited() <-chan struct{} { return s.exited }

// LogTail returns the server's last log lines, oldest first.
func (s *ServerProcess) LogTail() []string { return s.logs.tail() }

// CPUSeconds returns the CPU time (user plus system) the server has used so
// far, in seconds: from /proc/PID/stat while it runs, at the kernel's
// 10 ms resolution, and from the exact resource usage once it has exited.
func (s *ServerProcess) CPUSeconds() (float64, error) {
	select {
	case <-s.exited:
		st := s.cmd.ProcessState
		return (st.UserTime() + st.SystemTime()).Seconds(), nil
	default:
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.PID()))
	if err != nil {
		return 0, fmt.Errorf("server CPU time: %w", err)
	}
	secs, err := parseStatCPU(data)
	if err != nil {
		return 0, fmt.Errorf("server CPU time from /proc/%d/stat: %w", s.PID(), err)
	}
	return secs, nil
}

// parseStatCPU returns utime+stime in seconds from the text of
// /proc/PID/stat. The command name (field 2) is in parentheses and may
// contain spaces and parentheses itself, so fields are counted after the
// last ')'.
func parseStatCPU(data []byte) (float64, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("only %d fields after the command name, want at least 13", len(fields))
	}
	utime, err := strconv.ParseUint(fields[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	stime, err := strconv.ParseUint(fields[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return float64(utime+stime) / userHZ, nil
}

// RSSBytes returns the server's resident memory now (VmRSS in
// /proc/PID/status). It fails once the process has exited.
func (s *ServerProcess) RSSBytes() (int64, error) { return s.statusBytes("VmRSS") }

// PeakRSSBytes returns the largest resident memory the server has had so
// far (VmHWM in /proc/PID/status). It fails once the process has exited.
func (s *ServerProcess) PeakRSSBytes() (int64, error) { return s.statusBytes("VmHWM") }

func (s *ServerProcess) statusBytes(field string) (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", s.PID())
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("server memory: %w", err)
	}
	n, err := parseStatusKB(data, field)
	if err != nil {
		return 0, fmt.Errorf("server memory from %s: %w", path, err)
	}
	return n, nil
}

// parseStatusKB returns the value of a "Field:   1234 kB" line of
// /proc/PID/status in bytes.
func parseStatusKB(data []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: want \"<n> kB\", got %q", field, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		return kb << 10, nil
	}
	// A zombie (exited, not yet reaped) has no memory lines.
	return 0, fmt.Errorf("no %s line: the process has exited", field)
}

// Metrics fetches /metrics once from the -metrics-addr listener and
// returns every sample by series, as loadtest.ParsePrometheusText does.
func (s *ServerProcess) Metrics(ctx context.Context) (map[string]float64, error) {
	url := s.MetricsURL()
	code, body, err := httpGet(ctx, s.metricsAddr, "/metrics", 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %d", url, code)
	}
	m, err := loadtest.ParsePrometheusText(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return m, nil
}

// Stop sends SIGTERM and waits until the server has drained and exited. It
// returns nil only if the server exited with status 0 within ctx's deadline
// (or StopTimeout, whichever is earlier); otherwise it kills the server and
// returns a *ServerError. A server that had already exited is an error too:
// nothing should have stopped it. Later calls return the first call's
// result.
func (s *ServerProcess) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *ServerProcess) stop(ctx context.Context) error {
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

// Kill ends the server at once with SIGKILL and waits until it is gone. Use
// it on error paths where a clean drain no longer matters; it makes later
// Stop calls return an error.
func (s *ServerProcess) Kill() {
	s.stopOnce.Do(func() {
		s.kill()
		s.stopErr = s.failure("was killed", nil)
	})
	<-s.exited
}

func (s *ServerProcess) kill() {
	_ = s.cmd.Process.Kill() // fails only if it has exited, which is the goal
	<-s.exited
}

// logRing keeps the last lines a process wrote and watches for the
// server's ready line.
type logRing struct {
	mu      sync.Mutex
	lines   []string // ring buffer of at most max lines
	next    int      // where the next line goes once lines is full
	max     int
	partial []byte // an unfinished last line
	copyTo  io.Writer
	onLine  func(string)
	found   bool
	ready   chan string // receives the listening address once
}

// maxLineBytes caps a kept line, so that a runaway line cannot hold much
// memory.
const maxLineBytes = 4096

// readyLine matches the server's start-up line in its text log format.
var readyLine = regexp.MustCompile(`msg="offload ready" addr=(\S+)`)

func newLogRing(max int, copyTo io.Writer, onLine func(string)) *logRing {
	return &logRing{max: max, copyTo: copyTo, onLine: onLine, ready: make(chan string, 1)}
}

// Write stores complete lines; it never fails, so that the server never
// blocks on its log.
func (l *logRing) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.copyTo != nil {
		_, _ = l.copyTo.Write(p) // a broken copy must not break the server
	}
	data := p
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			l.partial = appendCapped(l.partial, data)
			break
		}
		l.partial = appendCapped(l.partial, data[:i])
		l.add(string(l.partial))
		l.partial = l.partial[:0]
		data = data[i+1:]
	}
	return len(p), nil
}

// appendCapped appends as much of p to b as keeps b within maxLineBytes.
func appendCapped(b, p []byte) []byte {
	room := maxLineBytes - len(b)
	if room <= 0 {
		return b
	}
	return append(b, p[:min(len(p), room)]...)
}

func (l *logRing) add(line string) {
	if l.onLine != nil {
		l.onLine(line)
	}
	if !l.found {
		if m := readyLine.FindStringSubmatch(line); m != nil {
			l.found = true
			l.ready <- m[1]
		}
	}
	if len(l.lines) < l.max {
		l.lines = append(l.lines, line)
		return
	}
	l.lines[l.next] = line
	l.next = (l.next + 1) % l.max
}

// tail returns the kept lines, oldest first, with an unfinished last line.
func (l *logRing) tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.lines)+1)
	out = append(out, l.lines[l.next:]...)
	out = append(out, l.lines[:l.next]...)
	if len(l.partial) > 0 {
		out = append(out, string(l.partial))
	}
	return out
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, for a server's side listeners.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// httpGet makes one GET request on a fresh connection and returns the
// status and body. It uses a bare connection rather than an http.Client so
// that nothing (no idle connection, no transport goroutine) outlives the
// call.
func httpGet(ctx context.Context, addr, path string, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			return 0, nil, err
		}
	}
	// Closing the connection is the only way to interrupt a blocked read
	// when ctx is cancelled before its deadline.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: offload-experiment\r\nConnection: close\r\n\r\n", path, addr); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}
