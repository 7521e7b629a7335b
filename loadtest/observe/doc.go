// Package observe runs an offload server as a child process and observes
// it, the one place where the kit starts, watches and stops servers: Start
// and WithServer run one from a config.Config; Snapshot reads the CPU time
// of the server, of the load generators and of the machine, and the
// server's memory, descriptors and metrics; Since and Measure turn two
// snapshots into a Delta.
package observe
