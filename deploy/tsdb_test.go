package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"offload/config"
	"offload/internal/await"
	"offload/internal/testbin"
	"offload/loadtest"
	"offload/loadtest/observe"
)

// TestRealTSDBs scrapes a real server under load with a real Prometheus and
// a real VictoriaMetrics (vmalert evaluating the same rules), configured
// from the shipped files, and checks through their HTTP APIs that every
// rule evaluates without error, that histogram_quantile over the request
// histogram agrees with the load generator's own p99 within the buckets'
// resolution, and that every dashboard expression returns data.
func TestRealTSDBs(t *testing.T) {
	prometheus := need(t, "prometheus", "prometheus")
	victoria := need(t, "victoria-metrics", "victoria-metrics")
	vmalert := need(t, "vmalert", "victoria-metrics")
	ctx := testbin.Context(t)

	settings := config.Default()
	settings.Work = 2 * time.Millisecond
	srv, err := observe.Start(ctx, observe.Config{Binary: serverBin, Procs: 2, Server: settings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	target := strings.TrimSuffix(strings.TrimPrefix(srv.MetricsURL(), "http://"), "/metrics")

	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join("prometheus", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	promConfig := shippedConfig(t, filepath.Join("prometheus", "prometheus.yml"), target, func(c map[string]any) {
		c["global"].(map[string]any)["evaluation_interval"] = "1s"
		c["rule_files"] = []string{rules}
	})
	vmConfig := shippedConfig(t, filepath.Join("victoriametrics", "scrape.yml"), target, nil)
	notifier := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer notifier.Close()

	promAddr, vmAddr, alertAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	run(t, dir, prometheus, "--config.file="+write(t, dir, "prometheus.yml", promConfig),
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"), "--web.listen-address="+promAddr, "--log.level=warn")
	// VictoriaMetrics hides the newest 30 s of data from queries by default
	// (-search.latencyOffset), which is all this test has.
	run(t, dir, victoria, "-promscrape.config="+write(t, dir, "scrape.yml", vmConfig), "-storageDataPath="+filepath.Join(dir, "vm-data"),
		"-httpListenAddr="+vmAddr, "-search.latencyOffset=1s", "-loggerLevel=ERROR")
	run(t, dir, vmalert, "-rule="+rules, "-datasource.url=http://"+vmAddr, "-remoteWrite.url=http://"+vmAddr, "-notifier.url="+notifier.URL,
		"-evaluationInterval=1s", "-httpListenAddr="+alertAddr, "-loggerLevel=ERROR")
	for _, ready := range []string{"http://" + promAddr + "/-/ready", "http://" + vmAddr + "/health", "http://" + alertAddr + "/health"} {
		await.True(t, ready, 20*time.Second, func() bool { return httpOK(ready) })
	}

	// A steady load, well under capacity: the 200s' latencies sit in a few
	// buckets, where the quantile is comparable.
	res, err := loadtest.Run(ctx, loadtest.Config{URL: srv.URL("/data"), Rates: []float64{150}, Warmup: 2 * time.Second, Duration: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	if res.Outcomes.Status[200] < 2000 || res.Outcomes.Errors() > 0 {
		t.Fatalf("load: %+v", res.Outcomes)
	}
	p99 := res.LatencyByStatus[200].P99 / 1e3
	// Let both scrape the end of the load and evaluate the rules on it.
	await.True(t, "Prometheus and VictoriaMetrics to have the end of the load", 15*time.Second, func() bool {
		return hasSampleAfter(t, "http://"+promAddr, end) && hasSampleAfter(t, "http://"+vmAddr, end)
	})
	shipped := countRules(t, rules)
	for name, base := range map[string]string{"Prometheus": "http://" + promAddr, "vmalert": "http://" + alertAddr} {
		await.True(t, fmt.Sprintf("%s to evaluate all %d rules on the end of the load", name, shipped), 15*time.Second, func() bool {
			return len(evaluatedSince(t, base, end)) == shipped
		})
		for _, r := range evaluatedSince(t, base, end) {
			if r.LastError != "" || (r.Health != "" && r.Health != "ok") {
				t.Errorf("%s: rule %s: health %q, error %q", name, r.Name, r.Health, r.LastError)
			}
		}
	}

	// histogram_quantile over the server's histogram against the client's
	// p99: the same bucket or a neighbour (the client's latency includes the
	// trip the server's handler time does not).
	const q = `histogram_quantile(0.99, sum by (le) (rate(offload_request_duration_seconds_bucket{path="/data"}[20s])))`
	buckets := requestBuckets(t, srv)
	want := slices.IndexFunc(buckets, func(le float64) bool { return p99 <= le })
	for name, base := range map[string]string{"Prometheus": "http://" + promAddr, "VictoriaMetrics": "http://" + vmAddr} {
		got := query(t, base, q, end)
		if len(got) != 1 {
			t.Errorf("%s: %s returned %d series", name, q, len(got))
			continue
		}
		at := slices.IndexFunc(buckets, func(le float64) bool { return got[0] <= le })
		t.Logf("%s: histogram_quantile p99 %.2f ms (bucket %d), the generator's p99 %.2f ms (bucket %d)", name, 1e3*got[0], at, 1e3*p99, want)
		if at < 0 || want < 0 || math.Abs(float64(at-want)) > 1 {
			t.Errorf("%s: p99 %.2f ms from the histogram, %.2f ms from the generator: more than a bucket apart (%v)", name, 1e3*got[0], 1e3*p99, buckets)
		}
	}

	// Every dashboard expression returns data from the real Prometheus.
	for _, p := range readDashboard(t).Panels {
		for _, target := range p.Targets {
			expr := strings.ReplaceAll(target.Expr, "$job", "offload")
			if got := query(t, "http://"+promAddr, expr, end); len(got) == 0 {
				t.Errorf("dashboard panel %q: %s returns no data", p.Title, expr)
			}
		}
	}
}

// shippedConfig reads a shipped scrape configuration, points its offload
// job at target every second, lets edit change the rest, and returns it as
// YAML.
func shippedConfig(t *testing.T, path, target string, edit func(map[string]any)) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	global := c["global"].(map[string]any)
	global["scrape_interval"], global["scrape_timeout"] = "1s", "1s"
	job := c["scrape_configs"].([]any)[0].(map[string]any)
	if job["job_name"] != "offload" {
		t.Fatalf("%s: the first scrape job is %v, not offload", path, job["job_name"])
	}
	job["static_configs"] = []map[string]any{{"targets": []string{target}}}
	if edit != nil {
		edit(c)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := observe.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// run starts a program for the rest of the test, its output in dir, and
// ends it when the test ends; it fails the test if the program exits first.
func run(t *testing.T, dir, program string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, filepath.Base(program)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(program, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			t.Errorf("%s exited during the test: %v\n%s", program, err, log)
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		logFile.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", filepath.Base(program), log)
		}
	})
}

func httpOK(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// get fetches url and decodes its JSON into v.
func get(t *testing.T, url string, v any) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// query evaluates expr at the time at through base's Prometheus query API
// and returns the value of each series of the instant vector.
func query(t *testing.T, base, expr string, at time.Time) []float64 {
	t.Helper()
	var resp struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	get(t, base+"/api/v1/query?query="+url.QueryEscape(expr)+"&time="+strconv.FormatInt(at.Unix(), 10), &resp)
	if resp.Status != "success" {
		t.Fatalf("%s: %s: %s", base, expr, resp.Error)
	}
	var out []float64
	for _, r := range resp.Data.Result {
		v, err := strconv.ParseFloat(fmt.Sprint(r.Value[1]), 64)
		if err != nil {
			t.Fatalf("%s: %s: value %v", base, expr, r.Value[1])
		}
		out = append(out, v)
	}
	return out
}

// hasSampleAfter reports whether base has scraped the server after t.
func hasSampleAfter(t *testing.T, base string, at time.Time) bool {
	t.Helper()
	got := query(t, base, "timestamp(offload_build_info)", time.Now())
	return len(got) > 0 && got[0] > float64(at.Unix())
}

// countRules counts the rules of a rule file.
func countRules(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n := 0
	for _, g := range f.Groups {
		n += len(g.Rules)
	}
	return n
}

// rule is what the rules APIs of Prometheus and vmalert say of a rule.
type rule struct {
	Name           string `json:"name"`
	Health         string `json:"health"`
	LastError      string `json:"lastError"`
	LastEvaluation string `json:"lastEvaluation"`
}

// evaluatedSince returns the rules base (Prometheus, or vmalert's
// Prometheus-compatible API) last evaluated after at.
func evaluatedSince(t *testing.T, base string, at time.Time) []rule {
	t.Helper()
	var resp struct {
		Data struct {
			Groups []struct {
				Rules []rule `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	get(t, base+"/api/v1/rules", &resp)
	var out []rule
	for _, g := range resp.Data.Groups {
		for _, r := range g.Rules {
			if evaluated, err := time.Parse(time.RFC3339Nano, r.LastEvaluation); err == nil && evaluated.After(at) {
				out = append(out, r)
			}
		}
	}
	return out
}

// requestBuckets are the upper bounds of the server's request histogram.
func requestBuckets(t *testing.T, srv *observe.Server) []float64 {
	t.Helper()
	m, err := srv.Metrics(testbin.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	var les []float64
	for k := range m {
		rest, ok := strings.CutPrefix(k, `offload_request_duration_seconds_bucket{le="`)
		if !ok || !strings.HasSuffix(rest, `",path="/data"}`) {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `",path="/data"}`), 64)
		if err == nil {
			les = append(les, le)
		}
	}
	slices.Sort(les)
	if len(les) < 10 {
		t.Fatalf("request histogram has %d buckets", len(les))
	}
	return les
}
