//go:build race

package bench

// raceEnabled: the race detector slows this test binary's own work
// benchmark several times over, but not the server it measures.
const raceEnabled = true
