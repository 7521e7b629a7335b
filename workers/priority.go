package workers

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// lowerPriority makes sure the calling goroutine runs on an OS thread of
// its own whose nice value is nice, so that the kernel runs any
// normal-priority thread, such as one that has just been woken by network
// IO, before it.
//
// An unprivileged process may raise a thread's nice value but never lower it
// again, so a thread is never given back to the Go scheduler once lowered:
// the goroutine keeps it locked, and the runtime ends the thread when the
// goroutine exits. A thread already at nice is one this function locked
// earlier for the same goroutine, which is how repeated calls stay cheap (one
// getpriority(2)) and never nest LockOSThread.
func lowerPriority(nice int) error {
	tid := unix.Gettid()
	// The raw syscall returns 20 - nice so that it is never negative.
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return fmt.Errorf("read worker thread priority: %w", err)
	}
	if 20-prio == nice {
		return nil
	}
	runtime.LockOSThread()
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lower worker thread priority to nice %d: %w", nice, err)
	}
	return nil
}

// probePriority checks, on a thread that is thrown away afterwards, that
// this process may lower a thread's priority (a seccomp filter or an exotic
// kernel could forbid it), so that a failure surfaces at start-up.
func probePriority(nice int) error {
	errc := make(chan error, 1)
	go func() {
		// Exiting while locked ends the thread, priority and all.
		errc <- lowerPriority(nice)
	}()
	return <-errc
}
