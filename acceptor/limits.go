package acceptor

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// FDLimit returns the process's soft limit on open file descriptors
// (RLIMIT_NOFILE). The Go runtime raises the soft limit to the hard limit at
// start-up, so this is what the server can really use.
func FDLimit() (int, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if rl.Cur > math.MaxInt32 {
		return math.MaxInt32, nil
	}
	return int(rl.Cur), nil
}

// SomaxconnPath is where Linux exposes the cap it puts on listen backlogs.
const SomaxconnPath = "/proc/sys/net/core/somaxconn"

// Somaxconn reads the kernel's cap on listen backlogs.
func Somaxconn() (int, error) {
	b, err := os.ReadFile(SomaxconnPath)
	if err != nil {
		return 0, fmt.Errorf("read listen backlog cap: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", SomaxconnPath, err)
	}
	return n, nil
}

// hint tells an operator what to do about a resource shortage.
func (t *Tracker) hint(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE):
		limit, lerr := FDLimit()
		if lerr != nil {
			return "the process ran out of file descriptors; raise its limit (ulimit -n, LimitNOFILE= in systemd) or lower -max-conns"
		}
		limitText := "no limit"
		if t.cfg.MaxConns > 0 {
			limitText = strconv.Itoa(t.cfg.MaxConns)
		}
		return fmt.Sprintf("the process may open %d files (ulimit -n) and holds %d connections; -max-conns is %s: "+
			"set -max-conns to at most %d (the fd limit minus %d for listeners, connections waiting for a token, logs and the runtime) "+
			"so that excess clients wait in the listen backlog, or raise the fd limit (ulimit -n, LimitNOFILE= in systemd)",
			limit, t.Active(), limitText, max(1, limit-t.cfg.FDReserve), t.cfg.FDReserve)
	case errors.Is(err, syscall.ENFILE):
		return "the whole system ran out of file descriptors: raise fs.file-max (sysctl -w fs.file-max=N) " +
			"or lower -max-conns here and in the other processes on this machine"
	case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM):
		return "the kernel could not allocate memory for a socket: lower -max-conns, " +
			"check free memory and the TCP memory limits (sysctl net.ipv4.tcp_mem)"
	}
	return ""
}
