package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"offload/config"
)

// FuzzRawRequest sends arbitrary bytes to a live server on 127.0.0.1. The
// server may answer or close the connection, but every answer must be
// HTTP/1.1 with a status below 500, it must close by itself within its read
// timeout, and it must keep serving others.
func FuzzRawRequest(f *testing.F) {
	seeds := []string{
		"GET /data?work=10us HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /data?work=1us HTTP/1.0\r\n\r\n",
		"POST /data HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST /data HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 3000) + "\r\n\r\n",
		"GET /data HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS ClientHello
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET /data?work=1ms%00 HTTP/1.1\r\nHost: x\r\n\r\n",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}

	cfg := config.Default()
	cfg.Addr, cfg.Acceptors, cfg.Pool = "127.0.0.1:0", 1, 1
	cfg.Work, cfg.MaxWork = 10*time.Microsecond, 100*time.Microsecond
	cfg.ReadTimeout, cfg.MaxHeaderBytes = time.Second, 2048
	srv, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	f.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			f.Errorf("server did not drain cleanly: %v", err)
		}
	})
	addr := srv.Addr().String()

	f.Fuzz(func(t *testing.T, raw []byte) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Write(raw); err != nil {
			return // the server may close before reading everything
		}
		_ = conn.(*net.TCPConn).CloseWrite()
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("server neither answered nor closed within 3 s (read timeout 1 s) for %q", raw)
				}
				return // closed: fine
			}
			if !strings.HasPrefix(line, "HTTP/1.1 ") {
				t.Fatalf("answer does not start with a status line: %q (request %q)", line, raw)
			}
			if code := line[9:12]; code >= "500" && code != "503" {
				t.Fatalf("status %s for %q", code, raw)
			}
			// Skip the rest of this answer: headers, then a body of
			// Content-Length bytes.
			length := 0
			for {
				h, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if h == "\r\n" {
					break
				}
				if v, ok := strings.CutPrefix(strings.ToLower(h), "content-length: "); ok {
					length, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
			if _, err := io.CopyN(io.Discard, r, int64(length)); err != nil {
				return
			}
		}
	})
}
