package observe

import (
	"maps"
	"math"
	"strings"
	"testing"
)

func TestParsePrometheusText(t *testing.T) {
	const text = `# HELP offload_jobs_queued Jobs waiting for a worker.
# TYPE offload_jobs_queued gauge
offload_jobs_queued 3

offload_connections_accepted_total 120
offload_accept_errors_total{kind="resource"} 3
offload_accept_errors_total{ kind = "other" , } 1
# TYPE req_duration_seconds histogram
req_duration_seconds_bucket{path="/data",le="0.005"} 10
req_duration_seconds_bucket{le="+Inf",path="/data"} 12
req_duration_seconds_sum{path="/data"} 0.25
req_duration_seconds_count{path="/data"} 12
escaped{b="1\\2",a="x\"y\nz"} -Inf
with_timestamp 5 1700000000000
tab_separated	2.5e3
empty_labels{} 7
`
	got, err := ParsePrometheusText(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"offload_jobs_queued":                                  3,
		"offload_connections_accepted_total":                   120,
		`offload_accept_errors_total{kind="resource"}`:         3,
		`offload_accept_errors_total{kind="other"}`:            1,
		`req_duration_seconds_bucket{le="0.005",path="/data"}`: 10,
		`req_duration_seconds_bucket{le="+Inf",path="/data"}`:  12,
		`req_duration_seconds_sum{path="/data"}`:               0.25,
		`req_duration_seconds_count{path="/data"}`:             12,
		`escaped{a="x\"y\nz",b="1\\2"}`:                        math.Inf(-1),
		"with_timestamp":                                       5,
		"tab_separated":                                        2500,
		"empty_labels":                                         7,
	}
	if !maps.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}

	nan, err := ParsePrometheusText(strings.NewReader("x NaN\n"))
	if err != nil || !math.IsNaN(nan["x"]) {
		t.Errorf("NaN: got %v, %v", nan, err)
	}

	for _, bad := range []string{
		"no_value",
		"x 1 2 3",
		"x abc",
		"9lives 1",
		"x{a=\"1\" 2",
		"x{a=1} 2",
		"x{a=\"1\"b=\"2\"} 2",
		"x{a=\"unterminated} 2",
		"x-y 1",
	} {
		if _, err := ParsePrometheusText(strings.NewReader("ok 1\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: err = %v, want an error on line 2", bad, err)
		}
	}
}
