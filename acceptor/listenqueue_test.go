package acceptor

import (
	"net"
	"testing"
	"time"

	"offload/internal/await"
)

func TestListenQueueCountsConnectionsWaitingToBeAccepted(t *testing.T) {
	f := newFixture(Config{MaxConns: 10, Pause: time.Millisecond})
	g, err := Listen(t.Context(), GroupConfig{Addr: "127.0.0.1:0", Acceptors: 2, Backlog: 16}, f.t)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if n, c, err := g.ListenQueue(); err != nil || n != 0 || c != 2*16 {
		t.Fatalf("idle: length %d, capacity %d, %v; want 0 and 32 (two listeners of backlog 16)", n, c, err)
	}
	// Nobody accepts: the kernel completes the handshakes and queues them.
	var conns []net.Conn
	for range 7 {
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	await.True(t, "7 connections in the accept queues", 5*time.Second, func() bool {
		n, _, err := g.ListenQueue()
		return err == nil && n == len(conns)
	})
	g.Close()
	if _, _, err := g.ListenQueue(); err == nil {
		t.Fatal("closed group: no error")
	}
}
