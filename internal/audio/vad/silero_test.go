//go:build cgo && sherpa && linux

package vad

import (
	"os"
	"testing"
	"time"
)

// sileroModel returns the Silero model named by VMX_SILERO_MODEL, skipping
// the test when there is none, or failing it in CI when VMX_REQUIRE_SILERO=1.
func sileroModel(t testing.TB) string {
	t.Helper()
	p := os.Getenv("VMX_SILERO_MODEL")
	if p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	requireSilero(t, "VMX_SILERO_MODEL names no model file (run internal/audio/vad/scripts/fetch-silero.sh)")
	return ""
}

func newTestSilero(t testing.TB, rate int) *Silero {
	t.Helper()
	s, err := NewSilero(rate, SileroConfig{Model: sileroModel(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSileroConformance(t *testing.T) {
	s := newTestSilero(t, testRate)
	speech := flite(t, "slt", "Hello, this is a test of the voice activity detector. Please call me back.")
	msg := append(make([]int16, testRate), speech...)
	msg = append(msg, make([]int16, testRate)...)
	testDetector(t, s, msg)
}

// TestSileroFlite checks Silero on flite's voices in white noise down to
// 5 dB SNR, after the beep. Silero ends speech 100-300 ms after the last
// loud sound (its probability decays slowly), and so bridges pauses of
// 300-400 ms that the level truth keeps.
func TestSileroFlite(t *testing.T) {
	s := newTestSilero(t, testRate)
	for _, voice := range []string{"kal", "slt", "awb", "rms"} {
		t.Run(voice, func(t *testing.T) {
			fl, want := fliteVoicemail(t, voice)
			for _, tc := range []struct {
				snr      float64
				lateMS   int64 // how late the speech may start
				minAgree float64
			}{{20, 150, 0.9}, {10, 150, 0.9}, {5, 300, 0.88}} {
				snr := tc.snr
				a, err := NewAnalyzer(s, Options{Pad: -1})
				if err != nil {
					t.Fatal(err)
				}
				a.WriteSamples(pcm16(addNoise(fl, want, snr, false, 3)))
				r := a.Finish()
				agree := frameAgreement(r.Spans, want, r.AudioMS)
				t.Logf("%v dB: agreement %.3f speech %v want %v–%v", snr, agree, r.Speech, want[0].StartMS, want[len(want)-1].EndMS)
				if r.Empty || agree < tc.minAgree {
					t.Errorf("%v dB: agreement %.3f, spans %v, want %v", snr, agree, r.Spans, want)
				}
				if d := r.Speech.StartMS - want[0].StartMS; d < -150 || d > tc.lateMS {
					t.Errorf("%v dB: speech starts at %d ms, want %d", snr, r.Speech.StartMS, want[0].StartMS)
				}
				if d := r.Speech.EndMS - want[len(want)-1].EndMS; d < -150 || d > 350 {
					t.Errorf("%v dB: speech ends at %d ms, want %d", snr, r.Speech.EndMS, want[len(want)-1].EndMS)
				}
			}
		})
	}
}

func TestSileroEmpty(t *testing.T) {
	s := newTestSilero(t, testRate)
	const n = 6 * testRate
	beep := append(make([]float64, testRate), tone(testRate/2, 1000, 0.4)...)
	for _, tc := range []struct {
		name string
		s    []float64
	}{
		{"digital silence", make([]float64, n)},
		{"white noise -30 dB", addNoise(make([]float64, n), nil, 30, false, 1)},
		{"pink noise -25 dB", addNoise(make([]float64, n), nil, 25, true, 2)},
		{"beep", append(beep, make([]float64, testRate)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := NewAnalyzer(s, Options{})
			a.WriteSamples(pcm16(tc.s))
			if r := a.Finish(); !r.Empty || len(r.Spans) != 0 {
				t.Errorf("%+v, want empty", r)
			}
		})
	}
}

// TestSileroLongSpeech feeds over a minute of speech with few pauses: the
// detector closes sherpa-onnx's segments itself, so memory and time stay
// linear, and the spans stay whole.
func TestSileroLongSpeech(t *testing.T) {
	s := newTestSilero(t, testRate)
	speech := flite(t, "slt", "This is a long message with hardly any pause in it at all and it goes on and on")
	var msg []int16
	for len(msg) < 70*testRate {
		msg = append(msg, speech...)
	}
	start := time.Now()
	a, _ := NewAnalyzer(s, Options{})
	a.WriteSamples(msg)
	r := a.Finish()
	elapsed := time.Since(start)
	t.Logf("%d s in %v (%.4f x real time), %d spans, %d utterances", r.AudioMS/1000, elapsed,
		elapsed.Seconds()/(float64(r.AudioMS)/1000), len(r.Spans), len(r.Utterances))
	if r.SpeechMS < r.AudioMS*8/10 {
		t.Errorf("speech %d ms of %d", r.SpeechMS, r.AudioMS)
	}
	checkUtterances(t, r, nil, 20000)
}

func TestSilero16k(t *testing.T) {
	s := newTestSilero(t, 16000)
	speech := flite(t, "kal", "Please call me back tomorrow morning.")
	msg8 := append(make([]int16, testRate), speech...)
	msg8 = append(msg8, make([]int16, testRate)...)
	want := levelSpans(msg8, 300)
	up := make([]float32, 2*len(msg8))
	newUpsampler().process(up, msg8)
	msg := make([]int16, len(up))
	for i, v := range up {
		msg[i] = int16(v * 32767)
	}
	a, _ := NewAnalyzer(s, Options{Pad: -1})
	a.WriteSamples(msg)
	r := a.Finish()
	if r.Empty || absDiff(r.Speech.StartMS, want[0].StartMS) > 150 || absDiff(r.Speech.EndMS, want[len(want)-1].EndMS) > 350 {
		t.Errorf("16 kHz: %+v, want speech like %v", r, want)
	}
}

func BenchmarkSilero(b *testing.B) {
	s := newTestSilero(b, testRate)
	speech := flite(b, "slt", "Hi, this is Mary calling about my order. Please call me back.")
	msg := append(make([]int16, testRate), speech...)
	dst := make([]Span, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		s.Reset()
		for c := 0; c < len(msg); c += 1600 {
			dst = s.Detect(dst[:0], msg[c:min(c+1600, len(msg))])
		}
		dst = s.Flush(dst[:0])
	}
	b.ReportMetric(float64(len(msg))/testRate*float64(b.N)/b.Elapsed().Seconds(), "xrealtime")
}
