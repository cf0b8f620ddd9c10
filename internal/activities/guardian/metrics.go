package guardian

import (
	"time"

	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/operation"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the guardian's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	state        *prometheus.GaugeVec
	desired      *prometheus.GaugeVec
	ready        *prometheus.GaugeVec
	observations prometheus.Counter
	commands     prometheus.Counter
	failovers    *prometheus.CounterVec
	recoveries   *prometheus.CounterVec
	switchovers  *prometheus.CounterVec
	fences       *prometheus.CounterVec
	holds        *prometheus.CounterVec
	open         *prometheus.CounterVec
	repair       prometheus.Histogram
}

// NewMetrics registers the guardian's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dayops_cluster_state",
			Help: "1 for the cluster's current guardian state (Healthy, Degraded, Busy), 0 for the others."}, []string{"cluster", "state"}),
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dayops_cluster_instances_desired",
			Help: "Instances the cluster's spec asks for."}, []string{"cluster"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dayops_cluster_instances_ready",
			Help: "Instances Ready and in the Redis cluster."}, []string{"cluster"}),
		observations: prometheus.NewCounter(prometheus.CounterOpts{Name: "dayops_guardian_observations_total",
			Help: "Observations the guardians made (each: one Pod list, one Node list, two Redis commands per instance)."}),
		commands: prometheus.NewCounter(prometheus.CounterOpts{Name: "dayops_guardian_redis_commands_total",
			Help: "Redis commands the guardians sent."}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dayops_failovers_observed_total",
			Help: "Failovers Redis made on its own that the guardian saw (and followed with labels)."}, []string{"cluster"}),
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dayops_recoveries_started_total",
			Help: "Recover operations the guardian started."}, []string{"cluster"}),
		switchovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dayops_guardian_switchovers_started_total",
			Help: "Switchovers the guardian started away from a primary that refused writes (a full or failing disk)."}, []string{"cluster"}),
		fences: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dayops_fences_total",
			Help: "Fenced starts of restarted primaries (instance manager records) the guardian saw."}, []string{"cluster"}),
		holds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dayops_failover_holds_released_total",
			Help: "Failover holds (cluster-replica-no-failover) that a slot move cut short left and the guardian cleared."}, []string{"cluster"}),
		open: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dayops_slots_found_left_open_total",
			Help: "Slots a slot move cut short left open that the guardian found (two sweeps in a row, no operation running) and had a recover close."}, []string{"cluster"}),
		repair: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dayops_time_to_repair_seconds",
			Help: "How long clusters stayed degraded.", Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}}),
	}
	reg.MustRegister(m.state, m.desired, m.ready, m.observations, m.commands, m.failovers, m.recoveries, m.switchovers, m.fences, m.holds, m.open, m.repair)
	return m
}

func (m *Metrics) observed(cluster string, a guard.Assessment, observations, commands int) {
	if m == nil {
		return
	}
	for _, s := range []string{guard.StateHealthy, guard.StateDegraded, guard.StateBusy} {
		v := 0.0
		if s == a.State {
			v = 1
		}
		m.state.WithLabelValues(cluster, s).Set(v)
	}
	m.desired.WithLabelValues(cluster).Set(float64(a.Desired))
	m.ready.WithLabelValues(cluster).Set(float64(a.Ready))
	m.observations.Add(float64(observations))
	m.commands.Add(float64(commands))
}

func (m *Metrics) failover(cluster string, n int) {
	if m != nil && n > 0 {
		m.failovers.WithLabelValues(cluster).Add(float64(n))
	}
}

func (m *Metrics) fenced(cluster string, n int) {
	if m != nil && n > 0 {
		m.fences.WithLabelValues(cluster).Add(float64(n))
	}
}

// swept counts the holds a sweep cleared, the slots it found left open and
// the commands it sent.
func (m *Metrics) swept(cluster string, holds, open, commands int) {
	if m == nil {
		return
	}
	if holds > 0 {
		m.holds.WithLabelValues(cluster).Add(float64(holds))
	}
	if open > 0 {
		m.open.WithLabelValues(cluster).Add(float64(open))
	}
	m.commands.Add(float64(commands))
}

// started counts an operation the guardian started: a recover, or a
// switchover.
func (m *Metrics) started(cluster string, op operation.Type) {
	switch {
	case m == nil:
	case op == operation.Switchover:
		m.switchovers.WithLabelValues(cluster).Inc()
	default:
		m.recoveries.WithLabelValues(cluster).Inc()
	}
}

func (m *Metrics) repaired(d time.Duration) {
	if m != nil {
		m.repair.Observe(d.Seconds())
	}
}
