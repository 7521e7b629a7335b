// Package loadtest generates HTTP load against an offload server and
// measures what it gets back.
//
// Run drives one test in either of two models. In the closed loop, a fixed
// number of connections each send a request as soon as the previous one is
// answered, as wrk does. In the open loop, requests go out on a fixed
// schedule whatever the server does, and latency counts from the scheduled
// send time, so that a server which stalls cannot hide the queue it builds
// (coordinated omission). Latencies go into an HdrHistogram; every request
// ends in exactly one outcome: a status code, a timeout, a connect error, a
// reset, another error, or, in the open loop, a send missed because too many
// requests were already in flight. While the test runs, the server's
// Prometheus metrics can be scraped into time series.
package loadtest
