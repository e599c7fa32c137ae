package cluster

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	activations  *prometheus.CounterVec
	passivations *prometheus.CounterVec
	requests     *prometheus.HistogramVec
	retries      *prometheus.CounterVec
}

func newMetrics(m *Member, reg prometheus.Registerer) *metrics {
	x := &metrics{
		activations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_actor_activations_total",
			Help: "Actor activations started on this member, by kind.",
		}, []string{"kind"}),
		passivations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_actor_passivations_total",
			Help: "Idle actor activations stopped on this member, by kind.",
		}, []string{"kind"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vayva_grain_request_duration_seconds",
			Help:    "Duration of grain calls made from this member, retries included, by kind and outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"kind", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_grain_request_retries_total",
			Help: "Grain call attempts retried (timeouts, dead letters, stale activations), by kind.",
		}, []string{"kind"}),
	}
	if reg != nil {
		active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vayva_actor_activations_live",
			Help: "Live actor activations on this member, all kinds.",
		}, func() float64 {
			var n int64
			for _, c := range m.ActivationCounts() {
				n += c
			}
			return float64(n)
		})
		reg.MustRegister(x.activations, x.passivations, x.requests, x.retries, active)
	}
	return x
}
