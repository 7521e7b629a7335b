package experiment

import (
	"offload/internal/testbin"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRollingRestartBehindHAProxyLosesNothing runs the shipped HAProxy
// configuration in front of three real servers and restarts each under
// load: every request must get its 200.
func TestRollingRestartBehindHAProxyLosesNothing(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy not installed (apt-get install haproxy; .ci/run does): skipping the rolling restart")
	}
	c := DefaultClusterConfig()
	c.Server, c.HAProxyConfig = serverBin, "../../deploy/haproxy/haproxy.cfg"
	c.Work, c.Rate, c.Settle = time.Millisecond, 150, time.Second
	var progress strings.Builder
	c.Progress = &progress
	start := time.Now()
	res, err := Cluster(testbin.Context(t), c)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	took := time.Since(start)
	if len(res.Restarts) != Instances {
		t.Fatalf("%d restarts, want %d", len(res.Restarts), Instances)
	}
	o := res.Load.Outcomes
	if res.Lost() != 0 {
		t.Errorf("lost %d of %d requests during the rolling restart: %v, %+v", res.Lost(), res.Load.Requests, o.Status, o)
	}
	// The load ran throughout: about the rate times the run's length.
	if want := int64(0.7 * c.Rate * took.Seconds()); res.Load.Requests < want {
		t.Errorf("%d requests in %v, want at least %d: the load did not run throughout", res.Load.Requests, took, want)
	}
	t.Logf("%d requests, %v; %s", res.Load.Requests, o.Status, progress.String())
}
