package live

import "github.com/prometheus/client_golang/prometheus"

// Metrics are live transcription's Prometheus collectors.
type Metrics struct {
	active     prometheus.Gauge
	starts     *prometheus.CounterVec
	audio      *prometheus.CounterVec
	utterances *prometheus.CounterVec
	decode     prometheus.Histogram
	messages   *prometheus.CounterVec
	drops      *prometheus.CounterVec
	failures   *prometheus.CounterVec
	queue      *prometheus.GaugeVec
	latency    *prometheus.HistogramVec
}

// NewMetrics creates the collectors; Register adds them to a registry.
func NewMetrics() *Metrics {
	return &Metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vmx_live_conversations_active", Help: "Calls being transcribed live.",
		}),
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_live_start_requests_total", Help: "start-streaming requests by outcome (started, resumed, taken_over, already_streaming, rejected, invalid).",
		}, []string{"outcome"}),
		audio: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_live_audio_bytes_total", Help: "PCM bytes read from Kinesis video streams, by role.",
		}, []string{"role"}),
		utterances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_live_utterances_total", Help: "Utterances found, by role and outcome (transcribed, empty, failed).",
		}, []string{"role", "outcome"}),
		decode: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vmx_live_decode_seconds", Help: "Time to transcribe one utterance.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_live_messages_total", Help: "Transcript messages per target by outcome (delivered, failed, dropped).",
		}, []string{"target", "outcome"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_live_message_drops_total", Help: "Messages dropped before they were sent, by target and reason (queue_full, expired, shutdown).",
		}, []string{"target", "reason"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vmx_live_message_failures_total", Help: "Failed POSTs by target and reason (timeout, network, status, auth); never retried.",
		}, []string{"target", "reason"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vmx_live_queue_depth", Help: "Messages waiting for a target.",
		}, []string{"target"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vmx_live_message_latency_seconds", Help: "From receiving the audio that completed an utterance to the target's answer to its POST.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}, []string{"target"}),
	}
}

// Register adds the collectors to r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.active, m.starts, m.audio, m.utterances, m.decode,
		m.messages, m.drops, m.failures, m.queue, m.latency} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
