package main

import (
	"net"
	"offload/internal/await"
	"strings"
	"testing"
	"time"
)

// freePort returns a 127.0.0.1 address whose port was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestMetricsListenerAnswersWhenTheServiceIsFull: with every connection
// token taken and more clients waiting in the listen backlog, a scrape on
// the service port waits behind them, while -metrics-addr answers at once
// and shows the waiting connections in offload_listen_queue_length.
func TestMetricsListenerAnswersWhenTheServiceIsFull(t *testing.T) {
	const maxConns, acceptors, waiting = 4, 2, 10
	metricsAddr := freePort(t)
	c := startChild(t, "", "-max-conns", "4", "-acceptors", "2", "-metrics-addr", metricsAddr, "-read-timeout", "30s")

	// Hold every token with an idle connection that sent half a request,
	// then queue more behind them.
	for i := range maxConns + waiting {
		conn, err := net.DialTimeout("tcp", c.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\n")); err != nil {
			t.Fatal(err)
		}
		if i == maxConns-1 {
			await.True(t, "the connection limit reached", 5*time.Second, func() bool {
				return metricValue(t, metricsAddr, "offload_connections_active") == maxConns
			})
		}
	}

	// Each acceptor holds at most the one connection it accepted while it
	// waits for a token; the rest wait in the kernel.
	await.True(t, "the waiting connections in the listen queue", 5*time.Second, func() bool {
		return metricValue(t, metricsAddr, "offload_listen_queue_length") >= waiting-acceptors
	})
	if capacity := metricValue(t, metricsAddr, "offload_listen_queue_capacity"); capacity < acceptors {
		t.Errorf("listen queue capacity %v", capacity)
	}

	// The scrape on -metrics-addr takes what a scrape takes; the one on the
	// service port waits in the backlog until the timeout.
	start := time.Now()
	code, body, err := get(metricsAddr, "/metrics", 2*time.Second)
	side := time.Since(start)
	if err != nil || code != 200 || !strings.Contains(body, "# HELP offload_listen_queue_length ") {
		t.Fatalf("-metrics-addr with the service full: %d %v", code, err)
	}
	start = time.Now()
	if _, _, err := get(c.addr, "/metrics", 20*side+500*time.Millisecond); err == nil {
		t.Fatalf("the service port answered a scrape with every token taken; the test proved nothing")
	}
	t.Logf("scrape on -metrics-addr %v; on the service port no answer in %v", side, time.Since(start))
}
