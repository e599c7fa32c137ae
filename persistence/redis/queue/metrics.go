package queue

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the queue counters, labelled by queue.
type metrics struct {
	enqueued  *prometheus.CounterVec
	processed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	retried   *prometheus.CounterVec
	dead      *prometheus.CounterVec
	reclaimed *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	// ingestBatch is the number of events per IngestOnce script call.
	ingestBatch prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, b *Broker) *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "vayva", Subsystem: "queue", Name: name, Help: help,
		}, []string{"queue"})
	}
	m := &metrics{
		enqueued:  counter("jobs_enqueued_total", "Jobs added to a queue (retries excluded)."),
		processed: counter("jobs_processed_total", "Jobs whose handler succeeded."),
		failed:    counter("jobs_failed_total", "Handler attempts that returned an error."),
		retried:   counter("jobs_retried_total", "Failed jobs scheduled for another attempt."),
		dead:      counter("jobs_dead_total", "Jobs moved to the dead-letter stream."),
		reclaimed: counter("jobs_reclaimed_total", "Jobs claimed from a consumer that stopped answering."),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "vayva", Subsystem: "queue", Name: "handler_duration_seconds",
			Help:    "Time spent in job handlers.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"queue"}),
		ingestBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "vayva", Subsystem: "queue", Name: "ingest_batch_events",
			Help:    "Webhook events sent to Redis per coalesced ingest call.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8),
		}),
	}
	if reg == nil {
		return m
	}
	m.enqueued = register(reg, m.enqueued)
	m.processed = register(reg, m.processed)
	m.failed = register(reg, m.failed)
	m.retried = register(reg, m.retried)
	m.dead = register(reg, m.dead)
	m.reclaimed = register(reg, m.reclaimed)
	m.duration = register(reg, m.duration)
	m.ingestBatch = register(reg, m.ingestBatch)
	_ = register[prometheus.Collector](reg, &depthCollector{b: b})
	return m
}

// register registers c, or returns the collector already registered under
// the same description, so several Brokers can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

var (
	descLength  = prometheus.NewDesc("vayva_queue_length", "Entries in the queue's streams (waiting and in flight).", []string{"queue"}, nil)
	descPending = prometheus.NewDesc("vayva_queue_pending", "Entries delivered and not yet acknowledged.", []string{"queue"}, nil)
	descDelayed = prometheus.NewDesc("vayva_queue_delayed", "Jobs waiting for a retry.", []string{"queue"}, nil)
	descDead    = prometheus.NewDesc("vayva_queue_dead", "Entries in the dead-letter stream.", []string{"queue"}, nil)
)

// depthCollector reports queue depths by calling Stats on every scrape.
type depthCollector struct{ b *Broker }

func (d *depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLength
	ch <- descPending
	ch <- descDelayed
	ch <- descDead
}

func (d *depthCollector) Collect(ch chan<- prometheus.Metric) {
	// The Collector interface carries no context; bound the scrape instead.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := d.b.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descLength, err)
		return
	}
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(descLength, prometheus.GaugeValue, float64(s.Length), s.Name)
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(s.Pending), s.Name)
		ch <- prometheus.MustNewConstMetric(descDelayed, prometheus.GaugeValue, float64(s.Delayed), s.Name)
		ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(s.Dead), s.Name)
	}
}
