package experiment

import (
	"context"
	"fmt"
	"time"

	"offload/metrics"
)

// ListenQueue is the kernel's accept queue of the server's listening
// sockets, summed over its SO_REUSEPORT group.
type ListenQueue struct {
	// Queued is the number of connections the kernel has completed and
	// that wait for the server to accept them.
	Queued int
	// Limit is the most the kernel holds before it drops new handshakes:
	// the effective listen backlog.
	Limit int
}

// ListenQueue reads the accept queue of the server's listening sockets as
// the server reports it (offload_listen_queue_length and _capacity, read
// from the listeners' TCP_INFO at scrape time), from the -metrics-addr
// listener: connections that waited there were not yet seen by the
// server's acceptors at all, which is where a server whose accept loop is
// starved keeps its queue, and the metrics listener answers even then.
func (s *ServerProcess) ListenQueue(ctx context.Context) (ListenQueue, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	m, err := s.Metrics(ctx)
	if err != nil {
		return ListenQueue{}, fmt.Errorf("listen queue: %w", err)
	}
	length, ok1 := m[metrics.ListenQueueLength]
	capacity, ok2 := m[metrics.ListenQueueCapacity]
	if !ok1 || !ok2 {
		return ListenQueue{}, fmt.Errorf("listen queue: %s exports no %s", s.MetricsURL(), metrics.ListenQueueLength)
	}
	return ListenQueue{Queued: int(length), Limit: int(capacity)}, nil
}
