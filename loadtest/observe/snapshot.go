package observe

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"offload/metrics"
)

// Snapshot is the state of a server and of the machine at one moment. CPU
// times are in seconds since each started, as the kernel counts them (in
// 10 ms ticks for /proc); compare two snapshots with Since.
type Snapshot struct {
	At time.Time
	// ServerCPU is the server's user plus system CPU time.
	ServerCPU float64
	// SelfCPU is this process's (the built-in load generator's), and
	// ChildrenCPU that of its exited children (wrk).
	SelfCPU, ChildrenCPU float64
	// MachineBusy is the time all CPUs spent busy since boot, hypervisor
	// steal included.
	MachineBusy float64
	// RSS and PeakRSS are the server's resident memory now and at most so
	// far, in bytes; FDs its open file descriptors.
	RSS, PeakRSS int64
	FDs          int
	// Metrics is every sample of the server's /metrics by series.
	Metrics map[string]float64
}

// Snapshot reads the server's state now. It fails once the server has
// exited.
func (s *Server) Snapshot(ctx context.Context) (Snapshot, error) {
	m, err := s.Metrics(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{At: time.Now(), Metrics: m}
	stat, err := s.proc.Stat()
	if err != nil {
		return Snapshot{}, fmt.Errorf("server CPU time: %w", err)
	}
	status, err := s.proc.NewStatus()
	if err != nil {
		return Snapshot{}, fmt.Errorf("server memory: %w", err)
	}
	snap.ServerCPU, snap.RSS, snap.PeakRSS = stat.CPUTime(), int64(status.VmRSS), int64(status.VmHWM)
	if snap.FDs, err = s.proc.FileDescriptorsLen(); err != nil {
		return Snapshot{}, fmt.Errorf("server file descriptors: %w", err)
	}
	if snap.SelfCPU, err = rusageCPU(syscall.RUSAGE_SELF); err != nil {
		return Snapshot{}, err
	}
	if snap.ChildrenCPU, err = rusageCPU(syscall.RUSAGE_CHILDREN); err != nil {
		return Snapshot{}, err
	}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return Snapshot{}, fmt.Errorf("machine CPU time: %w", err)
	}
	machine, err := fs.Stat()
	if err != nil {
		return Snapshot{}, fmt.Errorf("machine CPU time: %w", err)
	}
	c := machine.CPUTotal
	snap.MachineBusy = c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
	return snap, nil
}

// rusageCPU is the user plus system CPU time getrusage reports for who.
func rusageCPU(who int) (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(), nil
}

// ListenQueue is the kernel's accept queue of the server's listening
// sockets, summed over its SO_REUSEPORT group, as the server reports it:
// Queued connections are established and wait to be accepted, and Limit is
// the effective backlog, beyond which the kernel drops new handshakes.
type ListenQueue struct{ Queued, Limit int }

// ListenQueue is the server's listen queue at the snapshot.
func (s Snapshot) ListenQueue() (ListenQueue, error) {
	length, ok1 := s.Metrics[metrics.ListenQueueLength]
	capacity, ok2 := s.Metrics[metrics.ListenQueueCapacity]
	if !ok1 || !ok2 {
		return ListenQueue{}, fmt.Errorf("listen queue: the server exports no %s", metrics.ListenQueueLength)
	}
	return ListenQueue{Queued: int(length), Limit: int(capacity)}, nil
}

// Delta is what changed between two snapshots: wall time and CPU seconds.
type Delta struct {
	Wall float64
	// ServerCPU is the server's CPU time; GeneratorCPU this process's and
	// its children's; OtherCPU the rest of the machine's (other processes,
	// hypervisor steal): the noise of a shared machine.
	ServerCPU, GeneratorCPU, OtherCPU float64

	before, after Snapshot
}

// Since returns what changed from before to s.
func (s Snapshot) Since(before Snapshot) Delta {
	d := Delta{
		Wall:         s.At.Sub(before.At).Seconds(),
		ServerCPU:    s.ServerCPU - before.ServerCPU,
		GeneratorCPU: s.SelfCPU - before.SelfCPU + s.ChildrenCPU - before.ChildrenCPU,
		before:       before, after: s,
	}
	// The kernel counts in 10 ms ticks, so a quiet machine can come out a
	// tick below zero.
	d.OtherCPU = max(0, s.MachineBusy-before.MachineBusy-d.ServerCPU-d.GeneratorCPU)
	return d
}

// Cores is CPU seconds per wall second over the delta: how many cores were
// kept busy, 0 for an empty delta.
func (d Delta) Cores(cpu float64) float64 {
	if d.Wall <= 0 {
		return 0
	}
	return cpu / d.Wall
}

// Counter is how much a metric series grew over the delta.
func (d Delta) Counter(series string) float64 {
	return d.after.Metrics[series] - d.before.Metrics[series]
}

// Rate is how much a metric series grew per second over the delta.
func (d Delta) Rate(series string) float64 { return d.Cores(d.Counter(series)) }

// Measure runs load between two snapshots of the server and returns what
// changed. A server that exited meanwhile fails it with a *ServerError,
// which explains a failed load best.
func (s *Server) Measure(ctx context.Context, load func() error) (Delta, error) {
	before, err := s.Snapshot(ctx)
	if err != nil {
		return Delta{}, err
	}
	err = load()
	if err = cmp.Or(s.Running(), err); err != nil {
		return Delta{}, err
	}
	after, err := s.Snapshot(ctx)
	if err != nil {
		return Delta{}, err
	}
	return after.Since(before), nil
}

// SampleWhile takes a snapshot at once and then every interval while f
// runs, and returns them in order with f's error or else the first failed
// snapshot's. It takes none when f returns: a last interval of any length
// would make a rate of it noise.
func (s *Server) SampleWhile(ctx context.Context, interval time.Duration, f func() error) ([]Snapshot, error) {
	stop := make(chan struct{})
	var snaps []Snapshot
	var err error
	var sampling sync.WaitGroup
	sampling.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			snap, serr := s.Snapshot(ctx)
			if serr != nil {
				err = serr
				return
			}
			snaps = append(snaps, snap)
			select {
			case <-stop:
				return
			case <-ctx.Done():
				err = context.Cause(ctx)
				return
			case <-tick.C:
			}
		}
	})
	ferr := f()
	close(stop)
	sampling.Wait()
	return snaps, cmp.Or(ferr, err)
}
