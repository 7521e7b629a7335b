package acceptor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// GroupConfig describes the listening sockets of a Group.
type GroupConfig struct {
	// Addr is the TCP address to listen on, such as ":8080".
	Addr string
	// Acceptors is the number of listeners bound to Addr with
	// SO_REUSEPORT; the kernel spreads new connections across them.
	Acceptors int
	// Backlog is the listen backlog of each listener. The kernel caps it
	// at net.core.somaxconn.
	Backlog int
	// KeepAlive is the TCP keep-alive idle time of accepted connections;
	// 0 or less turns keep-alive probes off.
	KeepAlive time.Duration
}

// Group is a set of listeners on one address, each meant to be served by
// its own accept loop.
type Group struct {
	Listeners []*Listener
}

// Listen binds cfg.Acceptors listeners to cfg.Addr with SO_REUSEPORT and
// wraps each with t. With port 0 the first listener picks a free port and
// the others join it.
func Listen(ctx context.Context, cfg GroupConfig, t *Tracker) (*Group, error) {
	if cfg.Acceptors < 1 {
		return nil, fmt.Errorf("listen on %s: %d acceptors, need at least 1", cfg.Addr, cfg.Acceptors)
	}
	if cfg.Backlog < 1 {
		return nil, fmt.Errorf("listen on %s: backlog %d, need at least 1", cfg.Addr, cfg.Backlog)
	}
	lc := net.ListenConfig{
		Control:   reusePort,
		KeepAlive: cfg.KeepAlive,
	}
	if cfg.KeepAlive <= 0 {
		lc.KeepAlive = -1 // net.ListenConfig's way to say "off"
	}
	g := &Group{}
	addr := cfg.Addr
	for i := range cfg.Acceptors {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("listen on %s (acceptor %d of %d): %w", addr, i+1, cfg.Acceptors, err)
		}
		if err := setBacklog(ln, cfg.Backlog); err != nil {
			_ = ln.Close()
			g.Close()
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		addr = ln.Addr().String()
		g.Listeners = append(g.Listeners, Wrap(ln, t))
	}
	return g, nil
}

func reusePort(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set SO_REUSEPORT: %w", serr)
	}
	return nil
}

// setBacklog calls listen(2) again with the wanted backlog. The net package
// always listens with net.core.somaxconn; on Linux a second listen on a
// listening socket only changes its backlog.
func setBacklog(ln net.Listener, backlog int) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return fmt.Errorf("set backlog: %T is not a TCP listener", ln)
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return fmt.Errorf("set backlog: %w", err)
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = unix.Listen(int(fd), backlog) }); err != nil {
		return fmt.Errorf("set backlog: %w", err)
	}
	if lerr != nil {
		return fmt.Errorf("set backlog %d: %w", backlog, lerr)
	}
	return nil
}

// Addr is the address the group listens on.
func (g *Group) Addr() net.Addr { return g.Listeners[0].Addr() }

// Close closes every listener. Open connections are not affected.
func (g *Group) Close() {
	for _, l := range g.Listeners {
		_ = l.Close()
	}
}

// Serve runs serve on every listener, each on its own goroutine, and
// returns when all of them have returned. If one fails, the others are
// stopped by closing their listeners, and the first error is returned;
// listeners closed by Close end their serve without an error.
func (g *Group) Serve(serve func(net.Listener) error) error {
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for i, l := range g.Listeners {
		wg.Go(func() {
			err := serve(l)
			if err == nil || errors.Is(err, net.ErrClosed) {
				return
			}
			once.Do(func() {
				firstErr = fmt.Errorf("acceptor %d: %w", i+1, err)
				g.Close()
			})
		})
	}
	wg.Wait()
	return firstErr
}
