// Package metrics exposes espprovd's Prometheus metrics. Everything is
// observed from outside the provisioning service: gRPC interceptors read the
// public request and event stream, an http.RoundTripper times RainMaker
// cloud calls, and QueueObserver is the one-method interface a job runner
// reports its queue through. Every metric name starts with espprov_.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one registry with espprov's collectors.
type Metrics struct {
	reg *prometheus.Registry

	rpcs         *prometheus.CounterVec
	rpcDuration  *prometheus.HistogramVec
	inFlight     *prometheus.GaugeVec
	provisions   *prometheus.CounterVec
	provDuration *prometheus.HistogramVec
	steps        *prometheus.HistogramVec
	queue        *prometheus.GaugeVec
	cloud        *prometheus.HistogramVec
	cloudErrors  *prometheus.CounterVec
}

// New registers the collectors, with the Go runtime and process collectors
// renamed espprov_go_* and espprov_process_*.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	prefixed := prometheus.WrapRegistererWithPrefix("espprov_", m.reg)
	prefixed.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }

	m.rpcs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "espprov_rpc_requests_total",
		Help: "API calls by gRPC method and status code (REST calls included)."}, []string{"method", "code"})
	m.rpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "espprov_rpc_duration_seconds",
		Help: "API call duration by gRPC method.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"method"})
	m.inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "espprov_sessions_in_flight",
		Help: "Calls that hold a device session right now, by method."}, []string{"method"})
	m.provisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "espprov_provisions_total",
		Help: "Finished provisionings by transport, security scheme and result (a gRPC code name; OK is success)."},
		[]string{"transport", "scheme", "result"})
	m.provDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "espprov_provision_duration_seconds",
		Help: "Provisioning duration from the call to its end, by transport and result.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)},
		[]string{"transport", "result"})
	m.steps = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "espprov_provision_step_seconds",
		Help: "Time from the previous progress event (or the call's start) to this step.", Buckets: prometheus.ExponentialBuckets(0.001, 3, 12)},
		[]string{"step"})
	m.queue = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "espprov_queue_depth",
		Help: "Jobs waiting for a device or transport slot, by transport (reported by the job runner)."}, []string{"transport"})
	m.cloud = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "espprov_cloud_request_duration_seconds",
		Help: "ESP RainMaker cloud HTTP requests by endpoint and outcome.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)},
		[]string{"endpoint", "outcome"})
	m.cloudErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "espprov_cloud_request_errors_total",
		Help: "ESP RainMaker cloud requests that failed (network error or HTTP status >= 400), by endpoint and outcome."},
		[]string{"endpoint", "outcome"})
	for _, c := range []prometheus.Collector{m.rpcs, m.rpcDuration, m.inFlight, m.provisions, m.provDuration, m.steps, m.queue, m.cloud, m.cloudErrors} {
		f(c)
	}
	return m
}

// Registry is the registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// QueueObserver is how a job runner reports its queue without importing
// Prometheus: *Metrics implements it.
type QueueObserver interface {
	QueueDepth(transport string, depth int)
}

// QueueDepth implements QueueObserver.
func (m *Metrics) QueueDepth(transport string, depth int) {
	m.queue.WithLabelValues(transport).Set(float64(depth))
}
