// Package observe runs an offload server as a child process and observes
// it: the one place where the experiment kit starts, watches and stops
// servers.
//
// Start launches a server from a config.Config (never from a hand-built
// flag list), waits for the ready record of its JSON log and for /healthz,
// and hands every log record to the caller decoded by package serverlog.
// Snapshot reads, at one moment, the CPU time of the server, of this
// process and its children (the load generators) and of the whole machine,
// the server's memory and file descriptors (from /proc, through
// prometheus/procfs) and its metrics (from its -metrics-addr listener);
// Since turns two snapshots into the CPU cores each side used and the
// counters' increase. Machine describes where it all ran.
package observe
