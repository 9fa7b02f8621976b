package vad

import (
	"math"
	"strings"
	"testing"
	"time"
)

// analyseEnergy runs a default Energy detector over s without padding, so
// spans can be compared with the truth.
func analyseEnergy(t testing.TB, s []int16, cfg EnergyConfig, opts Options) *Result {
	t.Helper()
	e, err := NewEnergy(testRate, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAnalyzer(e, opts)
	if err != nil {
		t.Fatal(err)
	}
	a.WriteSamples(s)
	return a.Finish()
}

func TestEnergySpans(t *testing.T) {
	// A voicemail: line silence, the beep, a pause, two phrases.
	sig, truth := script(1,
		piece{ms: 1500, kind: "silence"}, piece{ms: 500, kind: "beep"}, piece{ms: 400, kind: "silence"},
		piece{ms: 3000, kind: "speech"}, piece{ms: 1200, kind: "silence"},
		piece{ms: 2500, kind: "speech"}, piece{ms: 1500, kind: "silence"})
	if len(truth) != 2 {
		t.Fatalf("script: truth %v", truth)
	}
	for _, tc := range []struct {
		name     string
		snr      float64 // dB; 0: clean
		pink     bool
		tolMS    int64
		minAgree float64
	}{
		{"clean", 0, false, 60, 0.98},
		{"white 20 dB", 20, false, 80, 0.97},
		{"white 10 dB", 10, false, 120, 0.95},
		{"pink 10 dB", 10, true, 120, 0.95},
		{"pink 5 dB", 5, true, 150, 0.93},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sig
			if tc.snr > 0 {
				s = addNoise(sig, truth, tc.snr, tc.pink, 7)
			}
			r := analyseEnergy(t, pcm16(s), EnergyConfig{}, Options{Pad: -1})
			agree := frameAgreement(r.Spans, truth, r.AudioMS)
			t.Logf("spans %v truth %v agreement %.3f", r.Spans, truth, agree)
			if len(r.Spans) != len(truth) {
				t.Fatalf("spans %v, want %d like %v", r.Spans, len(truth), truth)
			}
			for i, s := range r.Spans {
				if d := s.StartMS - truth[i].StartMS; d < -tc.tolMS || d > tc.tolMS {
					t.Errorf("span %d starts at %d ms, want %d ± %d", i, s.StartMS, truth[i].StartMS, tc.tolMS)
				}
				if d := s.EndMS - truth[i].EndMS; d < -tc.tolMS || d > tc.tolMS {
					t.Errorf("span %d ends at %d ms, want %d ± %d", i, s.EndMS, truth[i].EndMS, tc.tolMS)
				}
			}
			if agree < tc.minAgree {
				t.Errorf("agreement %.3f < %.2f", agree, tc.minAgree)
			}
			if r.Empty {
				t.Error("Empty")
			}
		})
	}
}

func TestEnergyEmpty(t *testing.T) {
	const n = 6 * testRate
	mix := func(parts ...[]float64) []float64 {
		out := make([]float64, n)
		for _, p := range parts {
			for i := range min(len(p), n) {
				out[i] += p[i]
			}
		}
		return out
	}
	at := func(ms int, s []float64) []float64 { return append(make([]float64, ms*testRate/1000), s...) }
	beep := tone(testRate/2, 1000, 0.4)
	dtmf := mix(tone(testRate/5, 697, 0.2), tone(testRate/5, 1209, 0.2))[:testRate/5]
	ringback := mix(tone(2*testRate, 440, 0.1), tone(2*testRate, 480, 0.1))[:2*testRate]
	noise := func(dB float64, pink bool, seed uint64) []float64 {
		return addNoise(make([]float64, n), nil, -dB, pink, seed)
	}
	click := make([]float64, 40)
	for i := range click {
		click[i] = 0.5 * math.Exp(-float64(i)/8)
	}
	for _, tc := range []struct {
		name string
		s    []float64
	}{
		{"digital silence", make([]float64, n)},
		{"white noise -50 dB", noise(-50, false, 1)},
		{"white noise -30 dB", noise(-30, false, 2)},
		{"pink noise -25 dB", noise(-25, true, 3)},
		{"noise rising 20 dB", mix(noise(-50, true, 4), at(3000, noise(-30, true, 5)))},
		{"beep", mix(at(1000, beep))},
		{"beep in noise", mix(noise(-40, true, 6), at(1000, beep))},
		{"beep 10 dB over noise", mix(noise(-30, false, 7), at(1000, tone(testRate/2, 1000, 0.09)))},
		{"beep at 2 kHz", mix(at(500, tone(testRate, 2000, 0.5)))},
		{"DTMF digits", mix(at(500, dtmf), at(1000, dtmf), at(1500, dtmf), noise(-45, false, 8))},
		{"ringback", mix(at(200, ringback), noise(-50, true, 9))},
		{"clicks", mix(at(1000, click), at(3000, click), noise(-50, false, 10))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := analyseEnergy(t, pcm16(tc.s), EnergyConfig{}, Options{})
			if !r.Empty || len(r.Spans) != 0 {
				t.Errorf("Empty = %v, spans %v (speech %d ms), want empty", r.Empty, r.Spans, r.SpeechMS)
			}
		})
	}

	// Tones of 300 ms and more are also steady sounds, which are never
	// speech; shorter ones, like DTMF digits, need the spectral test.
	t.Run("tone rejection off", func(t *testing.T) {
		s := mix(at(500, dtmf), at(1000, dtmf), at(1500, dtmf), noise(-45, false, 8))
		r := analyseEnergy(t, pcm16(s), EnergyConfig{ToneRatio: -1}, Options{})
		if r.Empty || len(r.Spans) != 1 {
			t.Errorf("DTMF without tone rejection: %+v, want one span", r)
		}
	})

	t.Run("one short word is not empty", func(t *testing.T) {
		sig, truth := script(3, piece{ms: 1000, kind: "silence"}, piece{ms: 700, kind: "speech"}, piece{ms: 1000, kind: "silence"})
		if truth[0].DurationMS() < 400 {
			t.Fatalf("script: truth %v", truth)
		}
		r := analyseEnergy(t, pcm16(addNoise(sig, truth, 20, true, 1)), EnergyConfig{}, Options{})
		if r.Empty {
			t.Errorf("short word %v: %+v", truth, r)
		}
	})
}

// TestEnergyBeepThenSpeech is the Connect sequence: the caller starts 300 ms
// after the beep, and the beep must not pull the message start forward.
func TestEnergyBeepThenSpeech(t *testing.T) {
	sig, truth := script(5,
		piece{ms: 800, kind: "silence"}, piece{ms: 500, kind: "beep"}, piece{ms: 300, kind: "silence"},
		piece{ms: 2000, kind: "speech"}, piece{ms: 1000, kind: "silence"})
	r := analyseEnergy(t, pcm16(addNoise(sig, truth, 25, true, 2)), EnergyConfig{}, Options{Pad: -1})
	if len(r.Spans) != 1 {
		t.Fatalf("spans %v, want one like %v", r.Spans, truth)
	}
	if d := r.Speech.StartMS - truth[0].StartMS; d < -60 || d > 100 {
		t.Errorf("speech starts at %d ms, want %d (the beep ends at 1300)", r.Speech.StartMS, truth[0].StartMS)
	}
}

// TestEnergyFlite checks the detector on synthetic human-like speech from
// flite's four voices, in pink noise, after the beep.
func TestEnergyFlite(t *testing.T) {
	for _, voice := range []string{"kal", "slt", "awb", "rms"} {
		t.Run(voice, func(t *testing.T) {
			fl, want := fliteVoicemail(t, voice)
			for _, snr := range []float64{20, 10} {
				r := analyseEnergy(t, pcm16(addNoise(fl, want, snr, true, 3)), EnergyConfig{}, Options{Pad: -1})
				agree := frameAgreement(r.Spans, want, r.AudioMS)
				t.Logf("%v dB: agreement %.3f speech %v want %v–%v", snr, agree, r.Speech, want[0].StartMS, want[len(want)-1].EndMS)
				if r.Empty || agree < 0.93 {
					t.Errorf("%v dB: agreement %.3f, spans %v, want %v", snr, agree, r.Spans, want)
				}
				if d := r.Speech.StartMS - want[0].StartMS; d < -100 || d > 150 {
					t.Errorf("%v dB: speech starts at %d ms, want %d", snr, r.Speech.StartMS, want[0].StartMS)
				}
				if d := r.Speech.EndMS - want[len(want)-1].EndMS; d < -250 || d > 150 {
					t.Errorf("%v dB: speech ends at %d ms, want %d", snr, r.Speech.EndMS, want[len(want)-1].EndMS)
				}
			}
		})
	}
}

func TestEnergyConfig(t *testing.T) {
	for _, tc := range []struct {
		rate int
		cfg  EnergyConfig
		err  string
	}{
		{4000, EnergyConfig{}, "sample rate"},
		{8000, EnergyConfig{Frame: 5 * time.Millisecond}, "energy.frame"},
		{8000, EnergyConfig{ThresholdDB: -1}, "energy.threshold_db"},
		{8000, EnergyConfig{ThresholdDB: 6, KeepDB: 8}, "energy.keep_db"},
		{8000, EnergyConfig{ToneRatio: 1.5}, "energy.tone_ratio"},
	} {
		if _, err := NewEnergy(tc.rate, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("NewEnergy(%d, %+v) = %v, want an error about %s", tc.rate, tc.cfg, err, tc.err)
		}
	}
	for _, rate := range []int{8000, 16000, 44100, 48000} {
		e, err := NewEnergy(rate, EnergyConfig{})
		if err != nil {
			t.Fatalf("rate %d: %v", rate, err)
		}
		if e.SampleRate() != rate {
			t.Errorf("SampleRate() = %d, want %d", e.SampleRate(), rate)
		}
	}
}

// TestEnergy16k runs the same message at 16 kHz.
func TestEnergy16k(t *testing.T) {
	sig, truth := script(2, piece{ms: 1000, kind: "silence"}, piece{ms: 2000, kind: "speech"}, piece{ms: 1000, kind: "silence"})
	s8 := pcm16(addNoise(sig, truth, 20, true, 1))
	s16 := make([]int16, 2*len(s8))
	f := make([]float32, 2*len(s8))
	newUpsampler().process(f, s8)
	for i, v := range f {
		s16[i] = int16(v * 32767)
	}
	e, err := NewEnergy(16000, EnergyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewAnalyzer(e, Options{Pad: -1})
	a.WriteSamples(s16)
	r := a.Finish()
	if len(r.Spans) != 1 || absDiff(r.Spans[0].StartMS, truth[0].StartMS) > 80 || absDiff(r.Spans[0].EndMS, truth[0].EndMS) > 80 {
		t.Errorf("16 kHz spans %v, want %v", r.Spans, truth)
	}
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestEnergyAllocs(t *testing.T) {
	sig, truth := script(4, piece{ms: 500, kind: "silence"}, piece{ms: 5000, kind: "speech"}, piece{ms: 500, kind: "silence"})
	s := pcm16(addNoise(sig, truth, 20, false, 1))
	e, _ := NewEnergy(testRate, EnergyConfig{})
	dst := make([]Span, 0, 64)
	allocs := testing.AllocsPerRun(20, func() {
		e.Reset()
		dst = e.Detect(dst[:0], s)
		dst = e.Flush(dst)
	})
	if allocs != 0 {
		t.Errorf("Detect allocates %v times per message", allocs)
	}
}

// BenchmarkEnergy measures the energy detector on a minute of noisy speech:
// xrealtime is audio time over processing time.
func BenchmarkEnergy(b *testing.B) {
	var pieces []piece
	for range 10 {
		pieces = append(pieces, piece{ms: 4000, kind: "speech"}, piece{ms: 2000, kind: "silence"})
	}
	sig, truth := script(9, pieces...)
	s := pcm16(addNoise(sig, truth, 15, true, 1))
	e, _ := NewEnergy(testRate, EnergyConfig{})
	dst := make([]Span, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(s)))
	b.ResetTimer()
	for b.Loop() {
		e.Reset()
		for c := 0; c < len(s); c += 1600 { // 200 ms chunks
			dst = e.Detect(dst[:0], s[c:min(c+1600, len(s))])
		}
		dst = e.Flush(dst[:0])
	}
	audio := float64(len(s)) / testRate * float64(b.N)
	b.ReportMetric(audio/b.Elapsed().Seconds(), "xrealtime")
}
