// Package acceptor is offload's production accept loop: listeners that
// survive everything clients and the kernel can throw at accept(2), a limit
// on simultaneous connections, and a group of SO_REUSEPORT listeners on one
// address, each served by its own goroutine that does IO only.
//
// A Listener wraps a net.Listener so that whoever calls Accept (fasthttp's
// Server.Serve here) only ever sees a connection or the end of the listener:
//
//   - per-connection errors (ECONNABORTED, ECONNRESET, EPROTO, ...) are
//     counted and the next connection is accepted at once;
//   - resource shortages (EMFILE, ENFILE, ENOBUFS, ENOMEM) are counted,
//     logged with a hint for the operator, and the acceptor pauses before it
//     tries again, so it never spins;
//   - at the connection limit the acceptor stops accepting, and new
//     connections wait in the kernel's listen backlog until one closes.
package acceptor

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"offload/internal/ratelimit"
	"offload/metrics"
)

// Config is shared by every listener of a Tracker.
type Config struct {
	// MaxConns caps simultaneous connections; 0 means no cap.
	MaxConns int
	// Pause is how long an acceptor waits after a resource shortage.
	Pause time.Duration
	// FDReserve is how many file descriptors the process needs besides
	// the connections it serves; it only shapes the hint logged on EMFILE.
	FDReserve int
}

// Tracker holds what the listeners of one server share: the connection
// tokens, the set of open connections (so that shutdown can close them),
// and the rate limit on warnings.
type Tracker struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics.Metrics
	tokens chan struct{} // nil without a cap; a token per open connection

	mu    sync.Mutex
	conns map[*conn]struct{}

	resourceWarn *ratelimit.Limiter
	limitNotice  *ratelimit.Limiter

	// sleep waits for d or until stop is closed, reporting whether it
	// waited the full d. Tests replace it to observe pauses.
	sleep func(d time.Duration, stop <-chan struct{}) bool
}

// NewTracker returns a Tracker for cfg that logs to log and counts in m.
func NewTracker(cfg Config, log *slog.Logger, m *metrics.Metrics) *Tracker {
	t := &Tracker{
		cfg:          cfg,
		log:          log,
		m:            m,
		conns:        make(map[*conn]struct{}),
		resourceWarn: ratelimit.New(cfg.Pause),
		limitNotice:  ratelimit.New(10 * time.Second),
		sleep:        sleep,
	}
	if cfg.MaxConns > 0 {
		t.tokens = make(chan struct{}, cfg.MaxConns)
	}
	return t
}

func sleep(d time.Duration, stop <-chan struct{}) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-stop:
		return false
	}
}

// Active is the number of connections accepted and not yet closed.
func (t *Tracker) Active() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// CloseAll closes every open connection. It ends a shutdown that ran out of
// time; clients in the middle of a request see their connection close.
func (t *Tracker) CloseAll() {
	t.mu.Lock()
	open := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		open = append(open, c)
	}
	t.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}

// acquire takes a connection token, waiting while the cap is reached. It
// returns net.ErrClosed if stop closes first.
func (t *Tracker) acquire(stop <-chan struct{}) error {
	if t.tokens == nil {
		return nil
	}
	select {
	case t.tokens <- struct{}{}:
		return nil
	default:
	}
	t.m.AcceptLimitWaits.Inc()
	if n, ok := t.limitNotice.Allow(time.Now()); ok {
		t.log.Info("connection limit reached; new connections wait in the listen backlog until one closes",
			"max_conns", t.cfg.MaxConns, "times_since_last_notice", n)
	}
	start := time.Now()
	select {
	case t.tokens <- struct{}{}:
		t.m.AcceptLimitWait.UpdateDuration(start)
		return nil
	case <-stop:
		return net.ErrClosed
	}
}

func (t *Tracker) release() {
	if t.tokens != nil {
		<-t.tokens
	}
}

// track registers a freshly accepted connection, which owns the token its
// acceptor took for it.
func (t *Tracker) track(nc net.Conn) *conn {
	c := &conn{Conn: nc, t: t}
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.mu.Unlock()
	t.m.ConnectionsAccepted.Inc()
	t.m.ConnectionsActive.Inc()
	return c
}

func (t *Tracker) untrack(c *conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	t.m.ConnectionsClosed.Inc()
	t.m.ConnectionsActive.Dec()
	t.release()
}

// conn is an accepted connection that gives its token back when closed.
type conn struct {
	net.Conn
	t      *Tracker
	closed atomic.Bool
}

// Close closes the connection and, the first time only, releases its token.
// The descriptor is closed before the token returns, so the connection limit
// bounds open descriptors, not just open connection objects.
func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.t.untrack(c)
	}
	return err
}

// Listener is a net.Listener whose Accept handles errors and the connection
// limit as the package documentation describes.
type Listener struct {
	inner     net.Listener
	t         *Tracker
	stop      chan struct{}
	closeOnce sync.Once
}

// Wrap returns a Listener that accepts from inner under t's rules.
func Wrap(inner net.Listener, t *Tracker) *Listener {
	return &Listener{inner: inner, t: t, stop: make(chan struct{})}
}

// Accept waits for a connection, then for a connection token. It returns
// an error only when the listener is closed (net.ErrClosed) or broken beyond
// repair (any error that is neither per-connection nor a resource
// shortage); every other error is handled here.
//
// The token is taken after accept(2), not before: with several listeners on
// one address the kernel has already chosen the listener of each pending
// connection, so an acceptor that held the last token while blocked on an
// empty listener would strand connections queued on another listener while
// the server had room for them. Taking it after means that at the cap each
// acceptor holds at most one accepted connection while it waits, and every
// other new connection waits in the kernel's listen backlog.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.inner.Accept()
		if err != nil {
			if err = l.handleError(err); err != nil {
				return nil, err
			}
			continue
		}
		if err := l.t.acquire(l.stop); err != nil {
			_ = nc.Close()
			return nil, err
		}
		return l.t.track(nc), nil
	}
}

// handleError counts an accept error and returns nil when the acceptor
// should accept again, after a pause if the error was a resource shortage.
func (l *Listener) handleError(err error) error {
	if l.closing() || errors.Is(err, net.ErrClosed) {
		return net.ErrClosed
	}
	switch classify(err) {
	case kindConnection:
		l.t.m.AcceptErrorsConnection.Inc()
		return nil
	case kindResource:
		l.t.m.AcceptErrorsResource.Inc()
		l.t.warnResource(err)
		if !l.t.sleep(l.t.cfg.Pause, l.stop) {
			return net.ErrClosed
		}
		return nil
	}
	l.t.m.AcceptErrorsOther.Inc()
	return fmt.Errorf("accept on %s: %w", l.inner.Addr(), err)
}

func (l *Listener) closing() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// Close stops the listener. A pending Accept returns net.ErrClosed, whether
// it waits for a connection, a token (closing the connection it holds) or
// the end of a pause. Connections already returned by Accept stay open.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		close(l.stop)
		err = l.inner.Close()
	})
	return err
}

// Addr is the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// warnResource logs a resource shortage with a hint, at most once per pause
// across all listeners, so a storm of failures logs one line per pause.
func (t *Tracker) warnResource(err error) {
	suppressed, ok := t.resourceWarn.Allow(time.Now())
	if !ok {
		return
	}
	t.log.Warn("accept failed: "+err.Error(),
		"pause", t.cfg.Pause,
		"suppressed", suppressed,
		"hint", t.hint(err))
}
