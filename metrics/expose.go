package metrics

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	vm "github.com/VictoriaMetrics/metrics"
)

// WritePrometheus writes the offload metrics followed by Go runtime and
// process metrics (CPU seconds, RSS, open and maximum fds) in the Prometheus
// text format. Every family has its # TYPE line, and every offload family a
// # HELP sentence; VictoriaMetrics/metrics has no help texts, so its
// go_* and process_* families carry an empty one.
func (m *Metrics) WritePrometheus(w io.Writer) {
	buf := m.buffers.Get().(*bytes.Buffer)
	defer m.buffers.Put(buf)
	buf.Reset()
	m.set.WritePrometheus(buf)
	vm.WriteProcessMetrics(buf)
	vm.WriteFDMetrics(buf)
	writeWithHelp(w, buf.Bytes())
}

// writeWithHelp copies exposition text to w, filling in the help texts of
// the empty "# HELP name" lines VictoriaMetrics writes for our families.
func writeWithHelp(w io.Writer, text []byte) {
	const prefix = "# HELP "
	for len(text) > 0 {
		line, rest, _ := bytes.Cut(text, []byte{'\n'})
		text = rest
		if name, ok := bytes.CutPrefix(line, []byte(prefix)); ok && bytes.IndexByte(name, ' ') < 0 {
			if h, ok := help[string(name)]; ok {
				_, _ = fmt.Fprintf(w, "%s%s %s\n", prefix, name, h)
				continue
			}
		}
		_, _ = w.Write(line)
		_, _ = w.Write([]byte{'\n'})
	}
}

// buildInfo returns the labels of offload_build_info: the module version
// ("(devel)" for a build from a checkout), the VCS revision the go command
// recorded (with "-dirty" when the tree had changes), and the Go version.
func buildInfo() string {
	version, revision := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && revision != "unknown" {
			revision += "-dirty"
		}
	}
	return BuildInfo + `{version=` + strconv.Quote(version) + `,revision=` + strconv.Quote(revision) +
		`,goversion=` + strconv.Quote(runtime.Version()) + `}`
}

// Config is the part of the server's configuration that alerts and
// dashboards compare the metrics with.
type Config struct {
	Mode, Overload, QueueOrder string
	Workers, Queue, MaxConns   int
}

// SetConfig exports c: offload_config_info with the policy names as labels,
// and the sizes as gauges, so that rules need no hard-coded numbers.
func (m *Metrics) SetConfig(c Config) {
	label := func(s string) string { return strconv.Quote(strings.ToValidUTF8(s, "?")) }
	m.set.NewGauge(ConfigInfo+`{mode=`+label(c.Mode)+`,overload=`+label(c.Overload)+`,queue_order=`+label(c.QueueOrder)+`}`,
		func() float64 { return 1 })
	for name, v := range map[string]int{ConfigWorkers: c.Workers, ConfigQueue: c.Queue, ConfigMaxConns: c.MaxConns} {
		m.set.NewGauge(name, nil).Set(float64(v))
	}
}

// ObserveListenQueue exports the kernel's accept queues of the server's
// listeners, read at scrape time: how many connections wait in them and how
// many they hold. read reports both summed over the listeners; when it
// fails the two series are left out of that scrape.
func (m *Metrics) ObserveListenQueue(read func() (length, capacity int, err error)) {
	m.set.RegisterMetricsWriter(func(w io.Writer) {
		length, capacity, err := read()
		if err != nil {
			return
		}
		vm.WriteGaugeUint64(w, ListenQueueLength, uint64(length))
		vm.WriteGaugeUint64(w, ListenQueueCapacity, uint64(capacity))
	})
}
