package vad

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// testDetector is the conformance suite every Detector passes: streaming in
// odd-sized chunks, Reset and reuse, and silence giving nothing. speech is a
// message the detector finds speech in.
func testDetector(t *testing.T, d Detector, speech []int16) {
	t.Helper()
	analyse := func(chunks func(n int) int) *Result {
		t.Helper()
		a, err := NewAnalyzer(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b := pcmBytes(speech)
		for len(b) > 0 {
			n := min(chunks(len(b)), len(b))
			if _, err := a.Write(b[:n]); err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
		return a.Finish()
	}
	whole := analyse(func(n int) int { return n })
	if len(whole.Spans) == 0 || whole.Empty {
		t.Fatalf("no speech found in the test message: %+v", whole)
	}
	if whole.AudioMS != int64(len(speech))*1000/int64(d.SampleRate()) {
		t.Errorf("AudioMS = %d, want %d", whole.AudioMS, int64(len(speech))*1000/int64(d.SampleRate()))
	}

	t.Run("chunks", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for name, chunks := range map[string]func(int) int{
			"1 byte":   func(int) int { return 1 },
			"3 bytes":  func(int) int { return 3 },
			"161":      func(int) int { return 161 },
			"4097":     func(int) int { return 4097 },
			"random":   func(int) int { return 1 + rng.IntN(9000) },
			"one half": func(n int) int { return n/2 + 1 },
		} {
			if got := analyse(chunks); !reflect.DeepEqual(got, whole) {
				t.Errorf("%s: %+v\nwhole: %+v", name, got, whole)
			}
		}
	})

	t.Run("reset and reuse", func(t *testing.T) {
		a, _ := NewAnalyzer(d, Options{})
		a.WriteSamples(make([]int16, 3000))
		a.WriteSamples(speech[:len(speech)/3]) // abandoned mid-speech
		if got := analyse(func(n int) int { return n }); !reflect.DeepEqual(got, whole) {
			t.Errorf("after an abandoned stream: %+v\nwant %+v", got, whole)
		}
	})

	t.Run("silence", func(t *testing.T) {
		a, _ := NewAnalyzer(d, Options{})
		a.WriteSamples(make([]int16, 5*d.SampleRate()))
		r := a.Finish()
		if !r.Empty || len(r.Spans) != 0 || len(r.Utterances) != 0 || r.Speech != (Span{}) {
			t.Errorf("digital silence: %+v", r)
		}
	})

	t.Run("raw spans ordered", func(t *testing.T) {
		d.Reset()
		spans := d.Detect(nil, speech)
		spans = d.Flush(spans)
		for i, s := range spans {
			if s.EndMS <= s.StartMS || i > 0 && s.StartMS < spans[i-1].EndMS {
				t.Fatalf("raw spans not ordered and disjoint: %v", spans)
			}
		}
	})
}

func TestEnergyConformance(t *testing.T) {
	sig, truth := script(11,
		piece{ms: 700, kind: "silence"}, piece{ms: 2500, kind: "speech"},
		piece{ms: 1000, kind: "silence"}, piece{ms: 1800, kind: "speech"}, piece{ms: 600, kind: "silence"})
	e, err := NewEnergy(testRate, EnergyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	testDetector(t, e, pcm16(addNoise(sig, truth, 20, true, 1)))
}
