// Package experiment runs the offload experiments end to end: it starts
// bin/server as a child process (offload/loadtest/observe) for every
// configuration, drives load at it with the project's own generator
// (offload/loadtest) or with wrk, probes /healthz on the side to see
// whether IO stays responsive, reads the server's metrics and stats, stops
// it with SIGTERM requiring a clean drain, and writes tables, CSV, JSON and
// charts of what it measured.
//
//   - Sweep measures throughput and latency against the worker pool size in
//     offload mode, with inline mode as a reference, in a closed loop.
//   - AcceptVsDone reproduces the figure of the blog post the project ports:
//     connections accepted per second against requests completed per second
//     under an open-loop rate that rises past capacity, one request per
//     connection, for offload and inline mode.
//   - Overload compares the overload policies under the same phases of
//     open-loop load, from half the capacity to three times it.
//   - Cluster restarts three servers behind HAProxy in turn under load.
package experiment
