package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// The load generator speaks HTTP/1.1 with fasthttp's Request and Response
// codecs over connections it dials and owns, rather than through
// fasthttp.HostClient (v1.78.0), whose cleaner and DNS-cache goroutines
// cannot be stopped, whose pool is shared (so neither "a connection per
// worker" nor "a new connection per request" holds), and which retries on
// a reused connection the server closed, hiding exactly the resets this
// tool must report. Owning the net.Conn also makes deadlines exact and lets
// a cancelled run unblock reads by closing the connections.

const (
	// maxIdle is how long a keep-alive connection may sit unused before it
	// is redialled (fasthttp's DefaultMaxIdleConnDuration): a server closing
	// idle connections would otherwise show up as resets.
	maxIdle = 10 * time.Second
	// maxBodySize caps a response body; larger ones are "other" errors.
	maxBodySize = 64 << 20
	// readBufferSize bounds the response header block, which fasthttp
	// parses within its read buffer.
	readBufferSize = 16 << 10
)

// transport is the clients' shared target: the address, the GET request
// they send copies of, and whether each connection carries one request. It
// tracks the open connections, so that a cancelled run can close them.
type transport struct {
	addr   string
	req    fasthttp.Request
	close  bool
	opened atomic.Int64

	mu      sync.Mutex
	live    map[net.Conn]struct{}
	aborted bool
}

func newTransport(addr, rawURL string, header map[string]string, closeEach bool) *transport {
	t := &transport{addr: addr, close: closeEach, live: make(map[net.Conn]struct{})}
	t.req.SetRequestURI(rawURL)
	t.req.Header.SetMethod(fasthttp.MethodGet)
	t.req.Header.SetUserAgent("offload-loadtest")
	for k, v := range header {
		t.req.Header.Set(k, v)
		t.req.UseHostHeader = t.req.UseHostHeader || strings.EqualFold(k, "Host")
	}
	if closeEach {
		t.req.SetConnectionClose()
	}
	return t
}

// client sends its transport's request over a connection of its own,
// redialled when it has none; one goroutine uses it at a time.
type client struct {
	t        *transport
	req      fasthttp.Request
	resp     fasthttp.Response
	nc       net.Conn
	br       *bufio.Reader
	lastUsed time.Time
}

func (t *transport) newClient() *client {
	c := &client{t: t}
	t.req.CopyTo(&c.req)
	return c
}

// errConnect marks a failure to establish the connection.
var errConnect = errors.New("connect")

// do sends the request, dialling first if c has no usable connection, and
// reads the response into c.resp. The whole exchange, dial included, must
// finish by deadline.
func (c *client) do(ctx context.Context, deadline time.Time) error {
	if c.nc != nil && time.Since(c.lastUsed) > maxIdle {
		c.close()
	}
	if c.nc == nil {
		if err := c.dial(ctx, deadline); err != nil {
			return fmt.Errorf("%w: %w", errConnect, err)
		}
	}
	err := c.nc.SetDeadline(deadline)
	if err == nil {
		_, err = c.req.WriteTo(c.nc)
	}
	if err == nil {
		err = c.resp.ReadLimitBody(c.br, maxBodySize)
	}
	// After an error the connection's framing is unknown.
	if err != nil || c.t.close || c.resp.ConnectionClose() {
		c.close()
	} else {
		c.lastUsed = time.Now()
	}
	return err
}

func (c *client) dial(ctx context.Context, deadline time.Time) error {
	d := net.Dialer{Deadline: deadline}
	nc, err := d.DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	if c.t.aborted {
		nc.Close()
		return errors.New("run cancelled")
	}
	c.t.live[nc] = struct{}{}
	c.t.opened.Add(1)
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, readBufferSize)
	} else {
		c.br.Reset(nc)
	}
	c.nc = nc
	return nil
}

// close closes c's connection, if any.
func (c *client) close() {
	if c.nc == nil {
		return
	}
	c.t.mu.Lock()
	delete(c.t.live, c.nc)
	c.t.mu.Unlock()
	c.nc.Close()
	c.nc = nil
}

// abort closes every open connection and makes later dials fail.
func (t *transport) abort() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.aborted = true
	for nc := range t.live {
		nc.Close()
	}
	clear(t.live)
}

// failure is the bucket a failed request is counted in.
type failure int

const (
	failTimeout failure = iota
	failConnect
	failReset
	failOther
	numFailures
)

// count returns the counter of o that failures of class f add to.
func (o *Outcomes) count(f failure) *int64 {
	return [numFailures]*int64{&o.Timeouts, &o.Connect, &o.Resets, &o.Other}[f]
}

// classify sorts an error of client.do into its bucket; a dial that timed
// out is a connect failure, as the server never saw the request.
func classify(err error, deadline time.Time) failure {
	var te interface{ Timeout() bool }
	var bc fasthttp.ErrBrokenChunk
	switch {
	case errors.Is(err, errConnect):
		return failConnect
	case errors.As(err, &te) && te.Timeout(), !time.Now().Before(deadline):
		// The clock catches timeouts fasthttp reports without the
		// net.Error, e.g. inside a chunked body.
		return failTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		// fasthttp reports any error before the first response byte,
		// a reset included, as io.EOF.
		return failReset
	case errors.As(err, &bc) && strings.Contains(bc.Error(), io.ErrUnexpectedEOF.Error()):
		// A chunked body cut short by a close; ErrBrokenChunk does not
		// unwrap its cause, so its text is all there is.
		return failReset
	default:
		return failOther
	}
}
