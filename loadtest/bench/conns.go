package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"offload/loadtest/observe"
)

// idleConnectionCost opens n keep-alive connections to srv, sends one
// /healthz request on each, and returns how much the server's resident
// memory grew per idle connection.
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
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				conns[i], errs[i] = openIdle(ctx, srv.Addr())
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("idle connection %d of %d: %w", i+1, n, err)
		}
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

// openIdle connects, sends one request, reads the answer and returns the
// connection.
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
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("answer %q", resp.Status)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return c, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
