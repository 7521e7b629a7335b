// Package observe runs an offload server as a child process and observes
// it: the one place where the experiment kit starts, watches and stops
// servers.
//
// Start launches a server from a config.Config and waits until it is
// healthy, and WithServer runs a measurement on one from start to clean
// stop; Snapshot reads the CPU time of the server, of the load generators
// and of the whole machine, the server's memory, descriptors and metrics at
// one moment; Since turns two snapshots into a Delta, and Measure takes the
// two around a load.
package observe
