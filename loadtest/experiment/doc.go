// Package experiment runs the offload experiments end to end: it starts
// servers through offload/loadtest/observe, drives load at them with the
// project's own generator or with wrk, probes /healthz on the side, and
// writes tables, CSV, JSON and charts of what it measured. Sweep measures
// throughput and latency against the worker pool size; AcceptVsDone
// reproduces the original figure, connections accepted against requests
// completed under a rate rising past capacity; Overload compares the
// overload policies under the same phases of open-loop load.
package experiment
