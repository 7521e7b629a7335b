package acceptor

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// ListenQueue reads the kernel's accept queues of the group's listeners:
// how many connections wait to be accepted now, and how many the queues
// hold, summed. On Linux the TCP_INFO of a listening socket carries both
// (tcpi_unacked is the queue's length, tcpi_sacked its capacity, the
// backlog after the somaxconn cap). Closed listeners are left out; with
// every listener closed it returns an error.
func (g *Group) ListenQueue() (length, capacity int, err error) {
	read := 0
	for _, l := range g.Listeners {
		n, c, err := l.listenQueue()
		if errors.Is(err, net.ErrClosed) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		length, capacity, read = length+n, capacity+c, read+1
	}
	if read == 0 {
		return 0, 0, fmt.Errorf("listen queue: every listener is closed")
	}
	return length, capacity, nil
}

func (l *Listener) listenQueue() (length, capacity int, err error) {
	tl, ok := l.inner.(*net.TCPListener)
	if !ok {
		return 0, 0, fmt.Errorf("listen queue: %T is not a TCP listener", l.inner)
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return 0, 0, fmt.Errorf("listen queue: %w", err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return 0, 0, fmt.Errorf("listen queue: %w", err)
	}
	if ierr != nil {
		return 0, 0, fmt.Errorf("listen queue: read TCP_INFO: %w", ierr)
	}
	return int(info.Unacked), int(info.Sacked), nil
}
