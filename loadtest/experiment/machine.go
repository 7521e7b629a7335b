package experiment

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where an experiment ran, for the record next to its
// numbers: on a small shared machine the load generator and the server
// compete for the same cores, and results do not transfer without it.
type Machine struct {
	// CPUs is the number of logical CPUs usable by this process.
	CPUs int `json:"cpus"`
	// CPUModel is the first "model name" of /proc/cpuinfo.
	CPUModel string `json:"cpu_model"`
	// Kernel is the Linux release from /proc/sys/kernel/osrelease.
	Kernel string `json:"kernel"`
	// GoVersion is the Go toolchain this program was built with.
	GoVersion string `json:"go_version"`
	// Wrk is wrk's name and version from "wrk -v", when wrk is installed.
	Wrk string `json:"wrk,omitempty"`
}

// DescribeMachine gathers Machine. Facts it cannot read are left empty;
// they are for the record, not worth failing an experiment over.
func DescribeMachine(ctx context.Context) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if name, value, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPUModel = strings.TrimSpace(value)
				break
			}
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

// machineBusySeconds returns the CPU time all CPUs of the machine have
// spent busy since boot, from the first line of /proc/stat: user, nice,
// system, irq, softirq and steal (time the hypervisor gave to another
// guest while this one wanted the CPU). Subtracting what the server and
// the load generator used over a run leaves the CPU that other processes
// took: the noise of a shared machine, worth recording next to results.
func machineBusySeconds() (float64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("machine CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	// cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("machine CPU time: unexpected /proc/stat line %q", line)
	}
	var ticks uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("machine CPU time: field %d of /proc/stat: %w", i, err)
		}
		ticks += n
	}
	return float64(ticks) / userHZ, nil
}
