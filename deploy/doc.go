// Package deploy holds no code: it is the configuration shipped for running
// offload (Prometheus scrape config, recording and alerting rules, a
// Grafana dashboard, HAProxy, Kubernetes) and the tests that run each
// against the real program it is for: promtool, Prometheus and
// VictoriaMetrics with vmalert, HAProxy. A test skips, saying so, when its
// program is not installed; .ci/run installs them all.
package deploy
