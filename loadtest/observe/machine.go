package observe

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// Machine describes where an experiment ran, for the record next to its
// numbers: on a small shared machine the load generator and the server
// compete for the same cores, and results do not transfer without it.
type Machine struct {
	// CPUs is the number of logical CPUs usable by this process.
	CPUs int `json:"cpus"`
	// CPUModel is the first CPU's model name in /proc/cpuinfo.
	CPUModel string `json:"cpu_model"`
	// Kernel is the Linux release from /proc/sys/kernel/osrelease.
	Kernel string `json:"kernel"`
	// GoVersion is the Go toolchain this program was built with.
	GoVersion string `json:"go_version"`
	// Wrk is wrk's name and version from "wrk -v", when wrk is installed.
	Wrk string `json:"wrk,omitempty"`
}

// Describe gathers Machine. Facts it cannot read are left empty; they are
// for the record, not worth failing an experiment over.
func Describe(ctx context.Context) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if fs, err := procfs.NewDefaultFS(); err == nil {
		if cpus, err := fs.CPUInfo(); err == nil && len(cpus) > 0 {
			m.CPUModel = cpus[0].ModelName
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if path, err := exec.LookPath("wrk"); err == nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		// wrk -v prints its version and usage, then exits with status 1.
		out, _ := exec.CommandContext(ctx, path, "-v").CombinedOutput()
		// "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer"
		if f := strings.Fields(string(out)); len(f) >= 2 && f[0] == "wrk" {
			m.Wrk = f[0] + " " + f[1]
		}
	}
	return m
}

// String is a one-line summary, e.g. "2 CPUs (Intel Xeon), Linux 6.1, go1.26.0".
func (m Machine) String() string {
	s := fmt.Sprintf("%d CPUs", m.CPUs)
	if m.CPUModel != "" {
		s += " (" + m.CPUModel + ")"
	}
	if m.Kernel != "" {
		s += ", Linux " + m.Kernel
	}
	s += ", " + m.GoVersion
	if m.Wrk != "" {
		s += ", " + m.Wrk
	}
	return s
}
