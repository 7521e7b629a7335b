package loadtest

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

func TestCanonicalSeries(t *testing.T) {
	got, err := canonicalSeries(` m{b="2", a="1"} `)
	if err != nil || got != `m{a="1",b="2"}` {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := canonicalSeries("m 1"); err == nil {
		t.Error("a sample with a value is not a selector")
	}
}

func TestScrapeSeries(t *testing.T) {
	var served atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/data", func(http.ResponseWriter, *http.Request) {
		served.Add(1)
		time.Sleep(time.Millisecond)
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		n := served.Load()
		fmt.Fprintf(w, "# TYPE offload_jobs_completed_total counter\noffload_jobs_completed_total %d\n", n)
		fmt.Fprintf(w, "offload_jobs_queued 7\n")
		fmt.Fprintf(w, "offload_accept_errors_total{kind=\"resource\"} 3\n")
		fmt.Fprintf(w, "offload_accept_errors_total{kind=\"other\"} %d\n", n)
	})
	url, _ := startServer(t, mux)

	resource := `offload_accept_errors_total{kind="resource"}`
	res := mustRun(t, Config{
		URL:            url + "/data",
		Connections:    1,
		Duration:       600 * time.Millisecond,
		ScrapeURL:      url + "/metrics",
		ScrapeInterval: 100 * time.Millisecond,
		ScrapeMetrics: []string{
			"offload_jobs_completed_total",
			"offload_jobs_queued",
			`offload_accept_errors_total{ kind="resource" }`,
			"offload_accept_errors_total",
			"offload_not_exposed",
		},
	})

	s := res.Scrape
	if s == nil {
		t.Fatal("no scrape result")
	}
	if s.Failures != 0 || s.Scrapes < 3 {
		t.Fatalf("%d scrapes, %d failures (%s): want >= 3 and 0", s.Scrapes, s.Failures, s.LastError)
	}
	if names := strings.Join(slices.Sorted(maps.Keys(s.Series)), " "); names != "offload_accept_errors_total "+resource+" offload_jobs_completed_total offload_jobs_queued" {
		t.Errorf("series %s", names)
	}

	queued := s.Series["offload_jobs_queued"]
	if len(queued) != s.Scrapes {
		t.Errorf("gauge has %d points for %d scrapes", len(queued), s.Scrapes)
	}
	for i, p := range queued {
		if p.Value != 7 || (i > 0 && p.At <= queued[i-1].At) {
			t.Errorf("gauge point %d = %+v, want value 7 at increasing times", i, p)
		}
	}
	if queued[0].At > 0.1 {
		t.Errorf("first scrape at %.3fs, want it at the start", queued[0].At)
	}

	// Counters become rates, one fewer point than scrapes.
	for _, name := range []string{"offload_jobs_completed_total", "offload_accept_errors_total"} {
		pts := s.Series[name]
		if len(pts) != s.Scrapes-1 {
			t.Errorf("%s has %d points for %d scrapes", name, len(pts), s.Scrapes)
		}
		var positive bool
		for _, p := range pts {
			positive = positive || p.Value > 0
			if p.Value < 0 {
				t.Errorf("%s rate %v < 0", name, p.Value)
			}
		}
		if !positive {
			t.Errorf("%s never rose: %+v", name, pts)
		}
	}
	for _, p := range s.Series[resource] {
		if p.Value != 0 {
			t.Errorf("constant counter %s has rate %v", resource, p.Value)
		}
	}

	var text strings.Builder
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "offload_jobs_queued") {
		t.Errorf("summary lacks the scraped series:\n%s", text.String())
	}
}

func TestScrapeFailureIsNotFatal(t *testing.T) {
	url, _ := startServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	res := mustRun(t, Config{
		URL:            url,
		Connections:    1,
		Duration:       300 * time.Millisecond,
		ScrapeURL:      closedPortURL(t),
		ScrapeInterval: 100 * time.Millisecond,
	})
	if s := res.Scrape; s == nil || s.Failures == 0 || s.Scrapes != 0 || s.LastError == "" {
		t.Errorf("scrape = %+v, want failures counted with an error message", s)
	}
	if res.Answered == 0 {
		t.Error("the load itself should be unaffected")
	}
}
