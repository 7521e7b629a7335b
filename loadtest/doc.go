// Package loadtest generates HTTP load against an offload server and
// measures what it gets back. Run drives a closed loop (connections that
// each send as soon as the last answer came, as wrk does) or an open loop
// (requests on a fixed schedule, latency counted from the scheduled time,
// so that a stalled server cannot hide its queue). Latencies go into
// HdrHistograms, and every request ends in exactly one outcome.
package loadtest
