// Package config is the one place that holds the server's settings: their
// flags, defaults, documentation and validation.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"time"

	"offload/overload"
)

// Modes of running /data's work.
const (
	// ModeOffload hands the work to the worker pool; the connection's
	// goroutine waits on a channel.
	ModeOffload = "offload"
	// ModeInline does the work on the connection's own goroutine, as the
	// original experiment's baseline did.
	ModeInline = "inline"
)

// FDReserve is how many file descriptors the server keeps for itself when
// it sizes the default connection limit from the fd limit: 32 for the
// poller, stdio and /proc reads for metrics, and per acceptor its listener
// and the one accepted connection it may hold while waiting for a token.
func FDReserve(acceptors int) int { return 32 + 2*acceptors }

// Config is every setting of the server.
type Config struct {
	Addr string
	// Acceptors and Pool are 0 for GOMAXPROCS; see Resolved.
	Acceptors    int
	Backlog      int
	MaxConns     int // 0: the fd limit minus FDReserve(Acceptors)
	AcceptPause  time.Duration
	TCPKeepAlive time.Duration

	Mode         string
	Pool         int
	Queue        int
	QueueTimeout time.Duration
	// Overload, QueueOrder, QueueTarget, OverloadInterval and
	// MaxRetryAfter configure the overload controller in front of the
	// pool; see package overload.
	Overload         string
	QueueOrder       string
	QueueTarget      time.Duration
	OverloadInterval time.Duration
	MaxRetryAfter    time.Duration
	WorkerNice       int
	IOProcs          int
	Work             time.Duration
	MaxWork          time.Duration
	// WorkIterationNs is the single-core CPU cost of one work iteration in
	// nanoseconds; 0 measures it at start-up.
	WorkIterationNs float64

	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxHeaderBytes int
	MaxBody        int

	ShutdownTimeout time.Duration
	StatsInterval   time.Duration
	DebugAddr       string
	MetricsAddr     string
	LogLevel        slog.Level
	LogFormat       string
}

// Default returns the defaults: sensible for a production server on the
// machine it runs on. They do not depend on that machine: the settings
// that follow GOMAXPROCS are 0 until Resolved, so that a Config means the
// same in the process that builds it and in a server started from its
// Args.
func Default() Config {
	return Config{
		Addr:         ":8080",
		Backlog:      1024,
		AcceptPause:  500 * time.Millisecond,
		TCPKeepAlive: 30 * time.Second,

		Mode:             ModeOffload,
		Queue:            64,
		Overload:         overload.Adaptive.String(),
		QueueOrder:       overload.OrderFIFO.String(),
		QueueTarget:      5 * time.Millisecond,
		OverloadInterval: 100 * time.Millisecond,
		MaxRetryAfter:    30 * time.Second,
		WorkerNice:       10,
		IOProcs:          1,
		Work:             4 * time.Millisecond,
		MaxWork:          time.Second,

		ReadTimeout:    5 * time.Second,
		WriteTimeout:   10 * time.Second,
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 8 << 10,
		MaxBody:        4 << 10,

		ShutdownTimeout: 10 * time.Second,
		LogLevel:        slog.LevelInfo,
		LogFormat:       "text",
	}
}

// RegisterFlags defines a flag for every setting on fs, with c's values as
// defaults, and parses into c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "TCP `address` to listen on")
	fs.IntVar(&c.Acceptors, "acceptors", c.Acceptors,
		"number of SO_REUSEPORT listeners on -addr, each with its own accept loop (0: GOMAXPROCS)")
	fs.IntVar(&c.Backlog, "backlog", c.Backlog,
		"listen backlog of each listener: connections the kernel holds until accepted (capped by net.core.somaxconn)")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns,
		"most simultaneous connections; more wait in the listen backlog (0: the fd limit minus 32 minus 2 per acceptor)")
	fs.DurationVar(&c.AcceptPause, "accept-pause", c.AcceptPause,
		"how long an acceptor pauses after a resource shortage (EMFILE, ENFILE, ENOBUFS, ENOMEM)")
	fs.DurationVar(&c.TCPKeepAlive, "tcp-keepalive", c.TCPKeepAlive,
		"TCP keep-alive idle time of accepted connections (0: off)")

	fs.StringVar(&c.Mode, "mode", c.Mode,
		"where /data's work runs: \"offload\" (worker pool) or \"inline\" (the connection's goroutine)")
	fs.IntVar(&c.Pool, "pool", c.Pool, "worker goroutines in offload mode (0: GOMAXPROCS)")
	fs.IntVar(&c.Queue, "queue", c.Queue,
		"jobs that may wait for a worker; when full, /data answers 503 at once (0: no queue)")
	fs.DurationVar(&c.QueueTimeout, "queue-timeout", c.QueueTimeout,
		"drop a job that waited longer than this for a worker and answer 503 (0: off)")
	fs.StringVar(&c.Overload, "overload", c.Overload,
		"overload policy: \"adaptive\" (standing-queue detection, predicted-wait admission, priorities, deadlines) or \"static\" (refuse only when -queue is full)")
	fs.StringVar(&c.QueueOrder, "queue-order", c.QueueOrder,
		"order of waiting jobs of equal urgency under -overload adaptive: \"fifo\", \"lifo\", or \"adaptive\" (newest first while overloaded)")
	fs.DurationVar(&c.QueueTarget, "queue-target", c.QueueTarget,
		"queueing delay above which a queue that does not drain is overloaded; the larger of this and a job's average wall time is used, and twice that is the admission bound while overloaded")
	fs.DurationVar(&c.OverloadInterval, "overload-interval", c.OverloadInterval,
		"how long the queue must stand above the target to count as overloaded (at least 10 targets are used)")
	fs.DurationVar(&c.MaxRetryAfter, "max-retry-after", c.MaxRetryAfter,
		"largest Retry-After of a refusal; the value given is the time to serve the waiting and recently refused work, with jitter")
	fs.IntVar(&c.WorkerNice, "worker-nice", c.WorkerNice,
		"nice value of the worker threads, so the kernel runs IO threads first when both are runnable (0: off; 1-19)")
	fs.IntVar(&c.IOProcs, "io-procs", c.IOProcs,
		"in offload mode, raise GOMAXPROCS to -pool plus this many, so acceptors and handlers always have a P (0: leave GOMAXPROCS)")
	fs.DurationVar(&c.Work, "work", c.Work, "CPU time of one /data request on one core")
	fs.DurationVar(&c.MaxWork, "max-work", c.MaxWork, "largest CPU time a client may ask for with /data?work=")
	fs.Float64Var(&c.WorkIterationNs, "work-iteration-ns", c.WorkIterationNs,
		"CPU cost of one work iteration in `nanoseconds`, to skip the start-up calibration; 0 measures it (offload_work_iteration_seconds shows the result)")

	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout,
		"time to receive a whole request, from its first byte (from the connection's start for the first request)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "time to send a response")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close keep-alive connections idle for this long")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", c.MaxHeaderBytes,
		"largest request header in bytes; larger ones get 431")
	fs.IntVar(&c.MaxBody, "max-body", c.MaxBody, "largest request body in bytes; larger ones get 413")

	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout,
		"on SIGTERM/SIGINT, how long to drain before closing connections and exiting non-zero")
	fs.DurationVar(&c.StatsInterval, "stats-interval", c.StatsInterval,
		"print per-second rates of connections and jobs to stderr at this interval (0: off)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr,
		"also serve /metrics on this separate `address`, outside the service's acceptors and connection limit, e.g. 127.0.0.1:9464 (empty: off; the same as -debug-addr: one listener for both)")
	fs.StringVar(&c.DebugAddr, "debug-addr", c.DebugAddr,
		"serve Go's pprof profiles at /debug/pprof/ on this separate `address`, e.g. 127.0.0.1:6060 (empty: off)")
	fs.TextVar(&c.LogLevel, "log-level", c.LogLevel, "log `level`: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log `format`: text or json")
}

// Resolved returns c with the settings that follow the machine filled in:
// Acceptors and Pool of 0 become GOMAXPROCS. Call it once in the server
// process, before raising GOMAXPROCS for -io-procs.
func (c Config) Resolved() Config {
	procs := runtime.GOMAXPROCS(0)
	if c.Acceptors == 0 {
		c.Acceptors = procs
	}
	if c.Pool == 0 {
		c.Pool = procs
	}
	return c
}

// Args returns the command-line flags that give a server c: one
// "-name=value" for every setting where c differs from Default, in flag
// name order. It is the inverse of RegisterFlags, so that programs that
// start servers build a Config rather than flag lists.
func (c Config) Args() []string {
	def, cur := Default(), c
	defaults, flags := flag.NewFlagSet("defaults", flag.ContinueOnError), flag.NewFlagSet("config", flag.ContinueOnError)
	def.RegisterFlags(defaults)
	cur.RegisterFlags(flags)
	var args []string
	flags.VisitAll(func(f *flag.Flag) {
		if v := f.Value.String(); v != defaults.Lookup(f.Name).Value.String() {
			args = append(args, "-"+f.Name+"="+v)
		}
	})
	return args
}

// QueuePolicy returns the overload controller's settings: the policy, the
// order and their parameters, with the pool's size, queue and queue timeout.
// Call it on a valid, resolved Config.
func (c Config) QueuePolicy() overload.Config {
	policy, _ := overload.ParsePolicy(c.Overload)
	order, _ := overload.ParseOrder(c.QueueOrder)
	return overload.Config{
		Policy: policy, Order: order,
		Workers: c.Pool, Capacity: c.Queue, QueueTimeout: c.QueueTimeout,
		Target: c.QueueTarget, Interval: c.OverloadInterval, MaxRetryAfter: c.MaxRetryAfter,
	}
}

// Validate reports every invalid setting at once, each with the flag that
// sets it.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Acceptors >= 0, "-acceptors %d: need 0 (GOMAXPROCS) or more", c.Acceptors)
	check(c.Backlog >= 1, "-backlog %d: need at least 1", c.Backlog)
	check(c.MaxConns >= 0, "-max-conns %d: need 0 (automatic) or more", c.MaxConns)
	check(c.AcceptPause > 0, "-accept-pause %v: need a positive duration, or a resource shortage would spin", c.AcceptPause)
	check(c.TCPKeepAlive >= 0, "-tcp-keepalive %v: need 0 (off) or more", c.TCPKeepAlive)
	check(c.Mode == ModeOffload || c.Mode == ModeInline, "-mode %q: want %q or %q", c.Mode, ModeOffload, ModeInline)
	check(c.Pool >= 0, "-pool %d: need 0 (GOMAXPROCS) or more workers", c.Pool)
	check(c.Queue >= 0, "-queue %d: need 0 or more", c.Queue)
	check(c.QueueTimeout >= 0, "-queue-timeout %v: need 0 (off) or more", c.QueueTimeout)
	_, err := overload.ParsePolicy(c.Overload)
	check(err == nil, "-overload %q: want adaptive or static", c.Overload)
	_, err = overload.ParseOrder(c.QueueOrder)
	check(err == nil, "-queue-order %q: want fifo, lifo or adaptive", c.QueueOrder)
	check(c.QueueTarget > 0, "-queue-target %v: need a positive duration", c.QueueTarget)
	check(c.OverloadInterval > 0, "-overload-interval %v: need a positive duration", c.OverloadInterval)
	check(c.MaxRetryAfter >= time.Second && c.MaxRetryAfter%time.Second == 0,
		"-max-retry-after %v: need whole seconds, at least 1s (Retry-After counts seconds)", c.MaxRetryAfter)
	check(c.WorkerNice >= 0 && c.WorkerNice <= 19, "-worker-nice %d: need 0 (off) to 19", c.WorkerNice)
	check(c.IOProcs >= 0, "-io-procs %d: need 0 or more", c.IOProcs)
	check(c.Work >= 0, "-work %v: must not be negative", c.Work)
	check(c.MaxWork >= c.Work, "-max-work %v: must be at least -work (%v)", c.MaxWork, c.Work)
	check(c.WorkIterationNs >= 0 && !math.IsInf(c.WorkIterationNs, 1), "-work-iteration-ns %v: need 0 (measure at start-up) or a positive number", c.WorkIterationNs)
	check(c.ReadTimeout > 0, "-read-timeout %v: need a positive duration, or slow clients could hold connections forever", c.ReadTimeout)
	check(c.WriteTimeout > 0, "-write-timeout %v: need a positive duration, or clients that stop reading could hold connections forever", c.WriteTimeout)
	check(c.IdleTimeout > 0, "-idle-timeout %v: need a positive duration, or idle clients could hold connections forever", c.IdleTimeout)
	check(c.MaxHeaderBytes >= 1024, "-max-header-bytes %d: need at least 1024", c.MaxHeaderBytes)
	check(c.MaxBody >= 1, "-max-body %d: need at least 1", c.MaxBody)
	check(c.ShutdownTimeout > 0, "-shutdown-timeout %v: need a positive duration", c.ShutdownTimeout)
	check(c.StatsInterval >= 0, "-stats-interval %v: need 0 (off) or more", c.StatsInterval)
	check(c.LogFormat == "text" || c.LogFormat == "json", "-log-format %q: want text or json", c.LogFormat)
	return errors.Join(errs...)
}
