package acceptor

import (
	"errors"
	"syscall"
)

// errorKind sorts accept errors by what the accept loop should do next.
type errorKind int

const (
	// kindOther is an error the loop cannot recover from, such as a
	// listener that is no longer listening. The acceptor stops.
	kindOther errorKind = iota
	// kindConnection means one pending connection failed before it was
	// accepted, typically because its peer gave up. The next one may
	// already be waiting, so the loop accepts again at once.
	kindConnection
	// kindResource means the process or the kernel ran out of something
	// (file descriptors, socket buffers, memory). Accepting again at once
	// would fail the same way and spin, so the loop pauses.
	kindResource
)

// classify reports what kind of accept error err is.
func classify(err error) errorKind {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return kindOther
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
		return kindResource
	// accept(2) on Linux passes pending network errors of the new socket
	// through and asks callers to retry on these; ECONNABORTED, ECONNRESET,
	// EPERM (a firewall rule) and ETIMEDOUT concern one peer as well.
	case syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO, syscall.EPERM,
		syscall.ETIMEDOUT, syscall.ENETDOWN, syscall.ENOPROTOOPT, syscall.EHOSTDOWN,
		syscall.ENONET, syscall.EHOSTUNREACH, syscall.EOPNOTSUPP, syscall.ENETUNREACH:
		return kindConnection
	}
	return kindOther
}
