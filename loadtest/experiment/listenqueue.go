package experiment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"
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
	// Sockets is the number of listening sockets found.
	Sockets int
}

// ListenQueue reads the accept queue of the server's listening sockets
// from the kernel (sock_diag over netlink, as "ss -lt" does): connections
// that waited there were not yet seen by the server at all, which is where
// a server whose accept loop is starved keeps its queue.
func (s *ServerProcess) ListenQueue() (ListenQueue, error) {
	host, portText, err := net.SplitHostPort(s.addr)
	if err != nil {
		return ListenQueue{}, fmt.Errorf("listen queue: %w", err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return ListenQueue{}, fmt.Errorf("listen queue: port %q: %w", portText, err)
	}
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return ListenQueue{}, fmt.Errorf("listen queue: %s is not an IPv4 address", host)
	}
	q, err := tcpListenQueue([4]byte(ip), uint16(port))
	if err != nil {
		return ListenQueue{}, fmt.Errorf("listen queue of %s: %w", s.addr, err)
	}
	if q.Sockets == 0 {
		return ListenQueue{}, fmt.Errorf("listen queue of %s: no listening socket found", s.addr)
	}
	return q, nil
}

// Netlink sock_diag constants from linux/sock_diag.h, linux/inet_diag.h and
// linux/netlink.h; the syscall package lacks them.
const (
	netlinkSockDiag  = 4  // NETLINK_SOCK_DIAG
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	tcpListenState   = 10 // TCP_LISTEN
	inetDiagReqLen   = 56 // sizeof(struct inet_diag_req_v2)
	inetDiagMsgLen   = 72 // sizeof(struct inet_diag_msg)
)

// tcpListenQueue sums the accept queues of the IPv4 TCP sockets listening
// on ip:port.
func tcpListenQueue(ip [4]byte, port uint16) (ListenQueue, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, netlinkSockDiag)
	if err != nil {
		return ListenQueue{}, fmt.Errorf("netlink socket: %w", err)
	}
	defer syscall.Close(fd)
	// The kernel answers at once; the timeout only guards against a reply
	// that never comes.
	tv := syscall.NsecToTimeval(time.Second.Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return ListenQueue{}, fmt.Errorf("netlink timeout: %w", err)
	}

	req := make([]byte, syscall.NLMSG_HDRLEN+inetDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // sequence number
	body := req[syscall.NLMSG_HDRLEN:]
	body[0] = syscall.AF_INET
	body[1] = syscall.IPPROTO_TCP
	ne.PutUint32(body[4:], 1<<tcpListenState)
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return ListenQueue{}, fmt.Errorf("netlink request: %w", err)
	}

	var q ListenQueue
	buf := make([]byte, 64<<10)
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			return ListenQueue{}, fmt.Errorf("netlink reply: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return ListenQueue{}, fmt.Errorf("netlink reply: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return q, nil
			case syscall.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(ne.Uint32(m.Data)); errno != 0 {
						return ListenQueue{}, fmt.Errorf("netlink: %w", syscall.Errno(-errno))
					}
				}
				return ListenQueue{}, errors.New("netlink: error reply")
			}
			d := m.Data
			if len(d) < inetDiagMsgLen {
				continue
			}
			// struct inet_diag_msg: family, state, timer, retrans, then
			// inet_diag_sockid (source port big-endian at 4, source
			// address at 8), then expires at 52, rqueue at 56 and wqueue
			// at 60. For a listening socket rqueue is the accept queue's
			// length and wqueue its limit.
			if binary.BigEndian.Uint16(d[4:6]) != port || [4]byte(d[8:12]) != ip {
				continue
			}
			q.Queued += int(ne.Uint32(d[56:]))
			q.Limit += int(ne.Uint32(d[60:]))
			q.Sockets++
		}
	}
}
