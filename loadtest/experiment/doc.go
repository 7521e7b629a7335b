// Package experiment runs the offload experiments end to end: it starts
// bin/server as a child process for every configuration, drives load at it
// with the project's own generator (offload/loadtest) or with wrk, probes
// /healthz on the side to see whether IO stays responsive, scrapes the
// server's metrics, stops the server with SIGTERM and checks that it drained
// cleanly, and writes tables, CSV, JSON and charts of what it measured.
//
// Two experiments are provided:
//
//   - Sweep measures throughput and latency against the worker pool size in
//     offload mode, with inline mode as a reference, in a closed loop.
//   - AcceptVsDone reproduces the figure of the blog post the project ports:
//     connections accepted per second against requests completed per second
//     under an open-loop rate that rises past capacity, one request per
//     connection, for offload and inline mode.
//
// ServerProcess, the child-process handle both use, is general enough for
// other benchmarks: it exposes the server's address, PID, CPU time and
// resident memory.
package experiment
