package live

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/vmx-dev/vmx/internal/asr"
)

// benchLines is a six-turn call of about 25 s.
var benchLines = []string{
	"Hello I need help with my streaming package today.",
	"Thank you sir let me pull up your account.",
	"My account number is on the letter you sent me.",
	"I can see it now and I will upgrade the package.",
	"How much more will that cost me every month.",
	"It is five dollars more and you get every sports channel.",
}

// latencies plays calls in real time and returns, per message, the time
// from the end of its speech in the stream to the webhook's receipt (e2e)
// and from the arrival of the fragment holding the pause that closed it
// (after the audio).
type latencies struct {
	e2e, after []float64 // ms
}

func (l *latencies) add(r *rig, c *call, msgs []received, pause time.Duration) {
	for i, m := range msgs {
		if i >= len(c.turns) {
			break
		}
		end := c.turns[i].speech.EndMS
		l.e2e = append(l.e2e, float64(m.at.Sub(r.start.Add(time.Duration(end)*time.Millisecond)).Milliseconds()))
		closing := end + (pause + probeMargin).Milliseconds()
		frag := (closing + 1023) / 1024 * 1024 // fragments are 1,024 ms
		l.after = append(l.after, float64(m.at.Sub(r.start.Add(time.Duration(frag)*time.Millisecond)).Milliseconds()))
	}
}

func (l *latencies) report(b *testing.B) {
	b.ReportMetric(percentile(l.e2e, 50), "e2e_p50_ms")
	b.ReportMetric(percentile(l.e2e, 95), "e2e_p95_ms")
	b.ReportMetric(percentile(l.after, 50), "after_audio_p50_ms")
	b.ReportMetric(percentile(l.after, 95), "after_audio_p95_ms")
}

// BenchmarkLatency measures the time from the end of an utterance in a
// real-time stream to its webhook POST, with a decoder that costs nothing
// (the pipeline's own latency). Each iteration plays a 25 s call:
//
//	go test -run '^$' -bench BenchmarkLatency -benchtime 2x ./internal/live/
func BenchmarkLatency(b *testing.B) {
	benchLatency(b, durationEngine{})
}

func benchLatency(b *testing.B, engine asr.Engine) {
	c := buildCall(b, benchLines, 1500, 2500)
	var l latencies
	for i := 0; b.Loop(); i++ {
		rc := &receiver{}
		target := httptest.NewServer(rc)
		r := newRig(b, 1, Config{Targets: []TargetConfig{{URL: target.URL}}, StopGrace: 10 * time.Millisecond}, engine)
		guid := fmt.Sprintf("latency-%d", i)
		var resp Response
		if code := r.post(b, PathStart, startBody(guid, r.addCall(b, "latency", guid, c)), &resp); code != http.StatusOK {
			b.Fatalf("start: %d %+v", code, resp)
		}
		waitFor(b, time.Minute, "all messages", func() bool { return len(rc.got()) >= len(c.turns) })
		l.add(r, c, rc.got(), r.svc.cfg.Pause)
		target.Close()
	}
	l.report(b)
}

// BenchmarkConcurrentCalls plays N calls at once in real time and reports
// the CPU one call-second costs (KVS reading, extraction, detection,
// storing, posting; the simulator serving the streams is in the same
// process and counted too) and the calls two cores sustain at that cost,
// and the latency under that load. The decoder costs nothing here; the
// pocketsphinx build adds the real one.
//
//	go test -run '^$' -bench BenchmarkConcurrentCalls -benchtime 1x ./internal/live/
func BenchmarkConcurrentCalls(b *testing.B) {
	for _, n := range []int{50, 200} {
		b.Run(fmt.Sprintf("calls=%d/decoder=none", n), func(b *testing.B) { benchCalls(b, n, durationEngine{}) })
	}
}

func benchCalls(b *testing.B, n int, engine asr.Engine) {
	c := buildCall(b, benchLines, 1500, 2500)
	callSeconds := float64(len(c.from)) / bytesPerMS / 1000
	var l latencies
	var cpu, delivered float64
	for b.Loop() {
		rc := &receiver{}
		target := httptest.NewServer(rc)
		// The calls begin together once all are started: NOW then reads
		// each from its first fragment.
		r := newRigAt(b, 1, time.Now().Add(2*time.Second+time.Duration(n)*20*time.Millisecond),
			Config{Targets: []TargetConfig{{URL: target.URL, QueueSize: 10000}}, MaxConversations: n, StopGrace: 10 * time.Millisecond}, engine)
		guids := make([]string, n)
		for i := range guids {
			guids[i] = fmt.Sprintf("load-%d", i)
			name := fmt.Sprintf("load-%d", i)
			var resp Response
			if code := r.post(b, PathStart, startBody(guids[i], r.addCall(b, name, guids[i], c)), &resp); code != http.StatusOK {
				b.Fatalf("start %d: %d %+v", i, code, resp)
			}
		}
		before := cpuSeconds()
		waitFor(b, 3*time.Minute, "all audio", func() bool {
			return counter(b, r.svc.m.audio, RoleAgent) >= float64(n*len(c.to))
		})
		var wg sync.WaitGroup
		for _, g := range guids {
			wg.Go(func() {
				var resp Response
				r.post(b, PathStop, map[string]any{"namespace": "amazonconnect", "guid": g}, &resp)
			})
		}
		wg.Wait()
		cpu += cpuSeconds() - before
		waitFor(b, 30*time.Second, "the queue to drain", func() bool {
			var m dto.Metric
			r.svc.m.queue.WithLabelValues("target1").Write(&m)
			return m.GetGauge().GetValue() == 0
		})
		delivered += float64(len(rc.got())) / float64(n*len(c.turns))
		byCall := map[string][]received{}
		for _, m := range rc.got() {
			byCall[m.ExternalConversationID] = append(byCall[m.ExternalConversationID], m)
		}
		for _, msgs := range byCall {
			l.add(r, c, msgs, r.svc.cfg.Pause)
		}
		target.Close()
	}
	perCallSecond := cpu / float64(b.N) / (float64(n) * callSeconds)
	b.ReportMetric(perCallSecond*1000, "cpu_ms/call_s")
	b.ReportMetric(2/perCallSecond, "calls/2cores")
	b.ReportMetric(delivered/float64(b.N), "delivered_ratio")
	l.report(b)
}

// cpuSeconds is the process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
