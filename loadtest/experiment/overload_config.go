package experiment

import (
	"errors"
	"io"
	"time"

	"offload/config"
	"offload/overload"
)

// OverloadConfig says how to run the overload experiment: the same phases
// of open-loop load against one server per overload policy.
type OverloadConfig struct {
	// Server is the offload binary.
	Server string
	// Procs is the servers' GOMAXPROCS; 0 means every CPU.
	Procs int
	// Work is the servers' -work, the cost of a bulk job.
	Work time.Duration
	// Policies are the server configurations compared, in order.
	Policies []OverloadPolicy
	// Phases run in order against each policy's server.
	Phases []Phase
	// Scale multiplies every phase's length.
	Scale float64
	// Progress receives a line per phase; nil for none.
	Progress io.Writer
	// WorkIterationNs is the servers' -work-iteration-ns; 0 has
	// observe.Calibrated measure it.
	WorkIterationNs float64
}

// OverloadPolicy is a server's -overload and -queue-order, each the
// server's default when empty.
type OverloadPolicy struct {
	Name       string `json:"name"`
	Overload   string `json:"overload,omitempty"`
	QueueOrder string `json:"queue_order,omitempty"`
}

// DefaultOverloadPolicies are the static queue and the adaptive controller
// with each queue order, named policy/order.
func DefaultOverloadPolicies() []OverloadPolicy {
	policies := []OverloadPolicy{{Name: "static", Overload: overload.Static.String()}}
	for _, order := range []overload.Order{overload.OrderFIFO, overload.OrderLIFO, overload.OrderAdaptive} {
		policies = append(policies, OverloadPolicy{Name: "adaptive/" + order.String(), Overload: overload.Adaptive.String(), QueueOrder: order.String()})
	}
	return policies
}

// settings are the server's settings under the policy.
func (p OverloadPolicy) settings(base config.Config) config.Config {
	if p.Overload != "" {
		base.Overload = p.Overload
	}
	if p.QueueOrder != "" {
		base.QueueOrder = p.QueueOrder
	}
	return base
}

// Phase is a stretch of open-loop load; rates are multiples of the
// capacity C, budgets of the single-request latency W.
type Phase struct {
	Name string `json:"name"`
	// Length is how long the phase lasts; its first Settle is load but
	// not measured.
	Length time.Duration `json:"length"`
	Settle time.Duration `json:"settle"`
	// Rate is the bulk /data rate (no Priority header), × C.
	Rate float64 `json:"rate_x_capacity"`
	// Doubled makes the bulk jobs cost twice -work, measured against the
	// capacity and latency of such jobs.
	Doubled bool `json:"doubled_work,omitempty"`
	// Urgent adds /data traffic with "Priority: u=0" at this rate, × C.
	Urgent float64 `json:"urgent_x_capacity,omitempty"`
	// Budget gives every bulk request an X-Request-Timeout of this many W.
	Budget float64 `json:"budget_x_w,omitempty"`
	// Burst adds this many simultaneous bulk requests every BurstEvery.
	Burst      int           `json:"burst,omitempty"`
	BurstEvery time.Duration `json:"burst_every,omitempty"`
}

// Names of the phases the targets refer to.
const (
	PhaseSteady   = "0.8x"
	PhaseOverload = "3x"
	PhaseDoubled  = "3x, work doubled"
	PhaseBursts   = "0.4x + bursts"
	PhaseUrgent   = "3x + urgent"
	PhaseDeadline = "3x, budget 3W"
)

// DefaultPhases is the experiment's schedule, about 46 s per policy.
func DefaultPhases() []Phase {
	s := time.Second
	return []Phase{
		{Name: "0.5x", Length: 4 * s, Settle: s, Rate: 0.5},
		{Name: PhaseSteady, Length: 5 * s, Settle: s, Rate: 0.8},
		{Name: "1x", Length: 4 * s, Settle: s, Rate: 1},
		{Name: "2x", Length: 4 * s, Settle: s, Rate: 2},
		{Name: PhaseOverload, Length: 6 * s, Settle: s, Rate: 3},
		// Right after the 3x phase: the same rate, jobs twice as long,
		// measured from one second after the step.
		{Name: PhaseDoubled, Length: 5 * s, Settle: s, Rate: 3, Doubled: true},
		{Name: PhaseUrgent, Length: 6 * s, Settle: s, Rate: 3, Urgent: 0.2},
		{Name: PhaseDeadline, Length: 5 * s, Settle: s, Rate: 3, Budget: 3},
		// Last: on this machine a job costs 20-30% more CPU for seconds
		// after light load, so a saturated phase right after this one
		// would be judged against a capacity the machine no longer has.
		{Name: PhaseBursts, Length: 7 * s, Settle: s, Rate: 0.4, Burst: 30, BurstEvery: 2 * s},
	}
}

// DefaultOverloadConfig returns the experiment as make overload-experiment
// runs it.
func DefaultOverloadConfig() OverloadConfig {
	return OverloadConfig{
		Server: "bin/server", Work: 4 * time.Millisecond,
		Policies: DefaultOverloadPolicies(), Phases: DefaultPhases(), Scale: 1,
	}
}

// Validate reports every problem with c's values, one per line.
func (c *OverloadConfig) Validate() error {
	var cs checks
	cs.check(c.Work > 0, "work %v: need a positive duration", c.Work)
	cs.check(len(c.Policies) > 0 && len(c.Phases) > 0, "need at least one policy and one phase")
	cs.check(c.Scale > 0, "scale %v: need a positive factor", c.Scale)
	cs.check(c.Procs >= 0, "procs %d: need 0 (every CPU) or more", c.Procs)
	for _, p := range c.Phases {
		cs.check(p.Length > p.Settle && p.Rate > 0 && p.Burst >= 0 && (p.Burst == 0 || p.BurstEvery > 0),
			"phase %q: need a length past its settle time, a positive rate, and bursts with an interval", p.Name)
	}
	return errors.Join(cs...)
}

// Baseline is what the phases' rates and budgets are multiples of,
// measured in the same run at -work and at twice it.
type Baseline struct {
	Capacity        float64 `json:"capacity_rps"`
	W               float64 `json:"w_ms"`
	CapacityDoubled float64 `json:"capacity_doubled_rps"`
	WDoubled        float64 `json:"w_doubled_ms"`
	// IterationNs is every server's -work-iteration-ns.
	IterationNs float64 `json:"work_iteration_ns"`
}
