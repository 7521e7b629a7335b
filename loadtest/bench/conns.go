package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"offload/loadtest/observe"
)

// idleConnectionCost opens n keep-alive connections to srv, sends one
// /healthz request on each, keeps them all open and idle, and returns how
// much the server's resident memory grew per connection.
func idleConnectionCost(ctx context.Context, srv *observe.Server, n int) (float64, error) {
	start, err := srv.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				c, err := openIdle(ctx, srv.Addr())
				mu.Lock()
				conns[i] = c
				if err != nil && first == nil {
					first = fmt.Errorf("idle connection %d of %d: %w", i+1, n, err)
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		return 0, first
	}
	// Let the server's connection goroutines settle into their idle wait.
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	end, err := srv.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	return float64(end.RSS-start.RSS) / float64(n), nil
}

// openIdle connects, sends one request, reads the whole answer and returns
// the connection, which the server keeps open for the next request.
func openIdle(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		return c, err
	}
	r := bufio.NewReader(c)
	status, err := r.ReadString('\n')
	if err != nil {
		return c, err
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200") {
		return c, fmt.Errorf("answer %q", strings.TrimSpace(status))
	}
	length := -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return c, err
		}
		if line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length:"); ok {
			_, _ = fmt.Sscan(strings.TrimSpace(v), &length)
		}
	}
	if length < 0 {
		return c, errors.New("answer without Content-Length")
	}
	if _, err := io.CopyN(io.Discard, r, int64(length)); err != nil {
		return c, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
