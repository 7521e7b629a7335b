// Package loadtest generates HTTP load against an offload server and
// measures what it gets back.
//
// Run drives one test in either of two models: in the closed loop, a fixed
// number of connections each send a request as soon as the previous one is
// answered, as wrk does; in the open loop, requests go out on a fixed
// schedule whatever the server does, and latency counts from the scheduled
// send time, so that a server which stalls cannot hide the queue it builds
// (coordinated omission). Latencies go into HdrHistograms; every request
// ends in exactly one outcome (a status code, a timeout, a connect error, a
// reset, another error, or in the open loop a send missed because too many
// were in flight). What the server does meanwhile is package observe's.
package loadtest
