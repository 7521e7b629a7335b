package acceptor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"offload/internal/await"
	"offload/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scriptedListener returns scripted results from Accept, in order. When the
// script is exhausted Accept blocks until the listener is closed, like a
// real listener with no pending connections.
type scriptedListener struct {
	results chan acceptResult
	closed  chan struct{}
	once    sync.Once

	mu    sync.Mutex
	calls int
}

type acceptResult struct {
	conn net.Conn
	err  error
}

func newScripted(results ...acceptResult) *scriptedListener {
	l := &scriptedListener{results: make(chan acceptResult, 100), closed: make(chan struct{})}
	for _, r := range results {
		l.results <- r
	}
	return l
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls++
	l.mu.Unlock()
	select {
	case r := <-l.results:
		return r.conn, r.err
	case <-l.closed:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	}
}

func (l *scriptedListener) Calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

func (l *scriptedListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *scriptedListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
}

// acceptErr builds the error the net package returns for a failed accept.
func acceptErr(errno syscall.Errno) acceptResult {
	return acceptResult{err: &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}}
}

// pipeConn returns one end of an in-memory connection; the other end is
// closed when the test ends.
func pipeConn(t *testing.T) acceptResult {
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return acceptResult{conn: a}
}

// recorder captures log records.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	return r.buf.Write(p)
}

func (r *recorder) lines() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.buf.String()
}

type fixture struct {
	t      *Tracker
	m      *metrics.Metrics
	log    *recorder
	mu     sync.Mutex
	pauses []time.Duration
}

func newFixture(cfg Config) *fixture {
	f := &fixture{m: metrics.New(), log: &recorder{}}
	f.t = NewTracker(cfg, slog.New(slog.NewTextHandler(f.log, nil)), f.m)
	f.t.sleep = func(d time.Duration, stop <-chan struct{}) bool {
		f.mu.Lock()
		f.pauses = append(f.pauses, d)
		f.mu.Unlock()
		return true
	}
	return f
}

func (f *fixture) pauseCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pauses)
}

// acceptAsync calls Accept on its own goroutine.
func acceptAsync(l net.Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := l.Accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan acceptResult) acceptResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return within 5s")
		return acceptResult{}
	}
}

func TestConnectionErrorsAreSkippedWithoutPause(t *testing.T) {
	f := newFixture(Config{Pause: time.Hour})
	want := pipeConn(t)
	inner := newScripted(acceptErr(syscall.ECONNABORTED), acceptErr(syscall.ECONNRESET),
		acceptErr(syscall.EPROTO), acceptErr(syscall.EHOSTUNREACH), want)
	l := Wrap(inner, f.t)
	defer l.Close()

	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if c.(*conn).Conn != want.conn {
		t.Fatal("Accept returned a different connection than the listener's")
	}
	_ = c.Close()
	if f.pauseCount() != 0 {
		t.Fatalf("paused %d times on per-connection errors, want 0", f.pauseCount())
	}
	if got := f.m.AcceptErrorsConnection.Get(); got != 4 {
		t.Fatalf("connection errors counted %d, want 4", got)
	}
	if n, text := f.log.lines(); n != 0 {
		t.Fatalf("per-connection errors logged %d lines, want none:\n%s", n, text)
	}
}

func TestResourceShortagePausesAndWarnsOnce(t *testing.T) {
	f := newFixture(Config{Pause: 500 * time.Millisecond, MaxConns: 200, FDReserve: 32})
	inner := newScripted(acceptErr(syscall.EMFILE), pipeConn(t))
	l := Wrap(inner, f.t)
	defer l.Close()

	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	_ = c.Close()
	if f.pauseCount() != 1 || f.pauses[0] != 500*time.Millisecond {
		t.Fatalf("pauses %v, want one of 500ms", f.pauses)
	}
	if got := f.m.AcceptErrorsResource.Get(); got != 1 {
		t.Fatalf("resource errors counted %d, want 1", got)
	}
	n, text := f.log.lines()
	if n != 1 {
		t.Fatalf("logged %d lines, want 1:\n%s", n, text)
	}
	for _, want := range []string{"level=WARN", "too many open files", "-max-conns is 200", "ulimit -n", "pause=500ms"} {
		if !strings.Contains(text, want) {
			t.Errorf("warning lacks %q:\n%s", want, text)
		}
	}
}

func TestResourceStormLogsOneLinePerPause(t *testing.T) {
	// The fake pause returns at once, so the whole storm happens within
	// one pause interval: every failure pauses, but only one is logged.
	f := newFixture(Config{Pause: time.Minute})
	script := []acceptResult{}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.EMFILE} {
		script = append(script, acceptErr(e))
	}
	inner := newScripted(append(script, pipeConn(t))...)
	l := Wrap(inner, f.t)
	defer l.Close()

	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	_ = c.Close()
	if f.pauseCount() != 5 {
		t.Fatalf("paused %d times, want 5: a resource error must never be retried at once", f.pauseCount())
	}
	if n, text := f.log.lines(); n != 1 {
		t.Fatalf("logged %d lines within one pause, want 1:\n%s", n, text)
	}
}

func TestMaxConnsBlocksAcceptUntilAConnectionCloses(t *testing.T) {
	f := newFixture(Config{MaxConns: 2})
	third := pipeConn(t)
	inner := newScripted(pipeConn(t), pipeConn(t), third, pipeConn(t))
	l := Wrap(inner, f.t)
	defer l.Close()

	c1, err1 := l.Accept()
	c2, err2 := l.Accept()
	if err1 != nil || err2 != nil {
		t.Fatalf("Accept: %v, %v", err1, err2)
	}
	pending := acceptAsync(l)
	await.True(t, "the acceptor to wait for a token", 5*time.Second, func() bool { return f.m.AcceptLimitWaits.Get() == 1 })
	// The acceptor holds the connection it took and accepts nothing more:
	// the fourth stays queued in the (scripted) backlog.
	if calls, queued := inner.Calls(), len(inner.results); calls != 3 || queued != 1 {
		t.Fatalf("at the cap: inner Accept called %d times with %d left queued, want 3 and 1", calls, queued)
	}
	select {
	case r := <-pending:
		t.Fatalf("third Accept returned (%v, %v) while 2 connections were open", r.conn, r.err)
	default:
	}

	_ = c1.Close()
	r := receive(t, pending)
	if r.err != nil {
		t.Fatalf("third Accept after a close: %v", r.err)
	}
	if r.conn.(*conn).Conn != third.conn {
		t.Fatal("the connection held while waiting was not the one returned")
	}
	if f.t.Active() != 2 {
		t.Fatalf("active %d, want 2", f.t.Active())
	}
	_ = c2.Close()
	_ = r.conn.Close()
}

func TestListenersSharingTokensDoNotStrandConnections(t *testing.T) {
	// Two listeners on one address share a cap of 2. All pending
	// connections happen to sit on b's queue while a's is empty: both must
	// be served. An acceptor that took the last token before blocking on
	// its empty listener would strand b's second connection.
	f := newFixture(Config{MaxConns: 2})
	a, b := Wrap(newScripted(), f.t), Wrap(newScripted(pipeConn(t), pipeConn(t)), f.t)
	defer a.Close()
	defer b.Close()
	fromA := acceptAsync(a)
	await.True(t, "a to block in accept", 5*time.Second, func() bool { return a.inner.(*scriptedListener).Calls() == 1 })
	first, second := receive(t, acceptAsync(b)), receive(t, acceptAsync(b))
	if first.err != nil || second.err != nil {
		t.Fatalf("b's connections: %v, %v", first.err, second.err)
	}
	_ = a.Close()
	if r := receive(t, fromA); !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("a returned %v after Close, want net.ErrClosed", r.err)
	}
	_, _ = first.conn.Close(), second.conn.Close()
}

func TestDoubleCloseReleasesOnce(t *testing.T) {
	f := newFixture(Config{MaxConns: 2})
	a, held := net.Pipe()
	t.Cleanup(func() { _, _ = a.Close(), held.Close() })
	inner := newScripted(pipeConn(t), pipeConn(t), pipeConn(t), acceptResult{conn: a})
	l := Wrap(inner, f.t)
	defer l.Close()

	c1, _ := l.Accept()
	c2, _ := l.Accept()
	_ = c1.Close()
	_ = c1.Close() // must not hand back a second token
	if got := f.m.ConnectionsClosed.Get(); got != 1 {
		t.Fatalf("closed counted %d after a double Close, want 1", got)
	}
	c3, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	fourth := acceptAsync(l)
	await.True(t, "the acceptor to wait for a token", 5*time.Second, func() bool { return f.m.AcceptLimitWaits.Get() == 1 })
	select {
	case <-fourth:
		t.Fatal("a fourth connection was accepted with 2 open and max-conns 2: a double Close released twice")
	default:
	}
	_ = l.Close()
	if r := receive(t, fourth); !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("Accept waiting for a token returned %v after Close, want net.ErrClosed", r.err)
	}
	if _, err := held.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection held while waiting for a token was not closed with the listener")
	}
	_, _ = c2.Close(), c3.Close()
	if f.t.Active() != 0 || f.m.ConnectionsActive.Get() != 0 {
		t.Fatalf("active %d (gauge %v) after closing everything", f.t.Active(), f.m.ConnectionsActive.Get())
	}
}

func TestClosedListenerReturnsCleanly(t *testing.T) {
	t.Run("blocked in accept", func(t *testing.T) {
		f := newFixture(Config{MaxConns: 1})
		inner := newScripted()
		l := Wrap(inner, f.t)
		pending := acceptAsync(l)
		await.True(t, "Accept to reach the inner listener", 5*time.Second, func() bool { return inner.Calls() == 1 })
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if r := receive(t, pending); !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("Accept returned %v, want net.ErrClosed", r.err)
		}
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close returned %v, want net.ErrClosed", err)
		}
		if err := l.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close returned %v, want net.ErrClosed", err)
		}
		if len(f.t.tokens) != 0 {
			t.Fatalf("%d tokens held after Close with no connections", len(f.t.tokens))
		}
	})
	t.Run("during a pause", func(t *testing.T) {
		f := newFixture(Config{Pause: time.Hour})
		f.t.sleep = sleep // the real one: Close must cut the hour short
		inner := newScripted(acceptErr(syscall.EMFILE))
		l := Wrap(inner, f.t)
		pending := acceptAsync(l)
		await.True(t, "the resource error", 5*time.Second, func() bool { return f.m.AcceptErrorsResource.Get() == 1 })
		_ = l.Close()
		if r := receive(t, pending); !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("Accept returned %v, want net.ErrClosed", r.err)
		}
	})
}

func TestUnknownErrorStopsTheAcceptor(t *testing.T) {
	f := newFixture(Config{MaxConns: 1})
	l := Wrap(newScripted(acceptErr(syscall.EINVAL)), f.t)
	defer l.Close()
	_, err := l.Accept()
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "accept on 127.0.0.1:8080") {
		t.Fatalf("Accept returned %v, want EINVAL with the address", err)
	}
	if f.m.AcceptErrorsOther.Get() != 1 || len(f.t.tokens) != 0 {
		t.Fatalf("other errors %d, tokens held %d; want 1 and 0", f.m.AcceptErrorsOther.Get(), len(f.t.tokens))
	}
}

func TestCloseAllClosesOpenConnections(t *testing.T) {
	f := newFixture(Config{MaxConns: 4})
	l := Wrap(newScripted(pipeConn(t), pipeConn(t)), f.t)
	defer l.Close()
	for range 2 {
		if _, err := l.Accept(); err != nil {
			t.Fatal(err)
		}
	}
	f.t.CloseAll()
	if f.t.Active() != 0 || len(f.t.tokens) != 0 || f.m.ConnectionsClosed.Get() != 2 {
		t.Fatalf("after CloseAll: active %d tokens %d closed %d", f.t.Active(), len(f.t.tokens), f.m.ConnectionsClosed.Get())
	}
}

func TestHints(t *testing.T) {
	f := newFixture(Config{MaxConns: 200, FDReserve: 32})
	cases := map[syscall.Errno]string{
		syscall.EMFILE:  "raise the fd limit",
		syscall.ENFILE:  "fs.file-max",
		syscall.ENOBUFS: "tcp_mem",
		syscall.ENOMEM:  "tcp_mem",
	}
	for errno, want := range cases {
		if h := f.t.hint(acceptErr(errno).err); !strings.Contains(h, want) {
			t.Errorf("hint for %v = %q, want it to mention %q", errno, h, want)
		}
	}
}

func TestGroupServesOnReusePortListeners(t *testing.T) {
	f := newFixture(Config{})
	g, err := Listen(context.Background(), GroupConfig{Addr: "127.0.0.1:0", Acceptors: 3, Backlog: 64, KeepAlive: 30 * time.Second}, f.t)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Listeners) != 3 {
		t.Fatalf("%d listeners, want 3", len(g.Listeners))
	}
	for _, l := range g.Listeners {
		if l.Addr().String() != g.Addr().String() {
			t.Fatalf("listener on %v, group on %v: all must share one address", l.Addr(), g.Addr())
		}
		if v := sockopt(t, l.inner.(*net.TCPListener), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */); v != 1 {
			t.Fatalf("SO_REUSEPORT = %d, want 1", v)
		}
	}

	// Serve echoes the socket options of each accepted connection.
	type opts struct{ nodelay, keepalive int }
	seen := make(chan opts, 16)
	done := make(chan error, 1)
	go func() {
		done <- g.Serve(func(ln net.Listener) error {
			for {
				c, err := ln.Accept()
				if err != nil {
					return err
				}
				tc := c.(*conn).Conn.(*net.TCPConn)
				seen <- opts{sockopt(t, tc, syscall.IPPROTO_TCP, syscall.TCP_NODELAY), sockopt(t, tc, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)}
				_ = c.Close()
			}
		})
	}()
	for range 6 {
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		o := <-seen
		if o.nodelay != 1 || o.keepalive != 1 {
			t.Fatalf("accepted connection has TCP_NODELAY=%d SO_KEEPALIVE=%d, want 1 and 1", o.nodelay, o.keepalive)
		}
		_ = c.Close()
	}
	g.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Close returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}

func TestGroupServeStopsAllOnFailure(t *testing.T) {
	f := newFixture(Config{})
	g, err := Listen(context.Background(), GroupConfig{Addr: "127.0.0.1:0", Acceptors: 2, Backlog: 8}, f.t)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = g.Serve(func(ln net.Listener) error {
		if ln == g.Listeners[0] {
			return boom
		}
		_, err := ln.Accept() // returns once the failure closes the group
		return err
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Serve returned %v, want the failing acceptor's error", err)
	}
}

func TestBacklogBoundsPendingConnections(t *testing.T) {
	// Nobody accepts: the kernel completes backlog+1 handshakes, then drops
	// further SYNs, so the next dial cannot complete.
	const backlog = 2
	f := newFixture(Config{})
	g, err := Listen(context.Background(), GroupConfig{Addr: "127.0.0.1:0", Acceptors: 1, Backlog: backlog}, f.t)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range backlog + 1 {
		c, err := net.DialTimeout("tcp", g.Addr().String(), 2*time.Second)
		if err != nil {
			t.Fatalf("dial %d within the backlog: %v", i+1, err)
		}
		conns = append(conns, c)
	}
	if c, err := net.DialTimeout("tcp", g.Addr().String(), 300*time.Millisecond); err == nil {
		_ = c.Close()
		t.Fatalf("dial %d beyond a backlog of %d succeeded: the backlog was not applied", backlog+2, backlog)
	}
}

func TestListenValidates(t *testing.T) {
	f := newFixture(Config{})
	for _, cfg := range []GroupConfig{
		{Addr: "127.0.0.1:0", Acceptors: 0, Backlog: 8},
		{Addr: "127.0.0.1:0", Acceptors: 1, Backlog: 0},
		{Addr: "256.0.0.1:0", Acceptors: 1, Backlog: 8},
	} {
		if g, err := Listen(context.Background(), cfg, f.t); err == nil {
			g.Close()
			t.Errorf("Listen(%+v) succeeded, want an error", cfg)
		}
	}
}

// sockopt reads an integer socket option of c.
func sockopt(t *testing.T, c syscall.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}
