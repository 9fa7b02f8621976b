package pipeline

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the pipeline's Prometheus collectors.
type Metrics struct {
	intake     *prometheus.CounterVec
	ignored    *prometheus.CounterVec
	steps      *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	failures   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// NewMetrics creates the collectors; Register adds them to a registry.
func NewMetrics() *Metrics {
	return &Metrics{
		intake: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_intake_records_total", Help: "Contact records with a voicemail flag, by outcome (accepted, duplicate, invalid).",
		}, []string{"outcome"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_intake_ignored_total", Help: "Contact records ignored: no voicemail flag, or a flag other than 1.",
		}, []string{"reason"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_step_runs_total", Help: "Pipeline step runs by step (audio, transcribe, package, deliver, finalize) and outcome.",
		}, []string{"step", "outcome"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_deliveries_total", Help: "Delivery attempts by sink and outcome.",
		}, []string{"sink", "outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_voicemails_failed_total", Help: "Voicemails that failed, by the step that gave up.",
		}, []string{"step"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vmx_step_duration_seconds", Help: "Duration of pipeline steps; step=total is record in to delivered.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}, []string{"step"}),
	}
}

// Register adds the collectors to r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.intake, m.ignored, m.steps, m.deliveries, m.failures, m.latency} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Ignored counts a contact record ignored for reason.
func (m *Metrics) Ignored(reason string) { m.ignored.WithLabelValues(reason).Inc() }
