package pocketsphinx

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// scene builds 8 kHz test audio: low line noise with "speech" (a loud
// warbling tone) in the given spans, in milliseconds.
func scene(totalMS int, speech ...[2]int) []int16 {
	rng := rand.New(rand.NewPCG(7, 7))
	s := make([]int16, totalMS*8)
	for i := range s {
		s[i] = int16(rng.NormFloat64() * 10) // ≈ −70 dBFS
	}
	for _, sp := range speech {
		for i := sp[0] * 8; i < sp[1]*8; i++ {
			t := float64(i) / 8000
			s[i] += int16(6000 * math.Sin(2*math.Pi*(300+100*math.Sin(2*math.Pi*3*t))*t))
		}
	}
	return s
}

type cut struct{ start, speechStart, speechEnd, end int64 }

func split(t *testing.T, audio []int16, c Config, chunk int) []cut {
	t.Helper()
	sp := newSplitter(8000, c.WithDefaults())
	var got []cut
	emit := func(u utterance) error {
		got = append(got, cut{u.Start, u.SpeechStart, u.SpeechEnd, u.Start + int64(len(u.Samples))})
		return nil
	}
	for rest := audio; len(rest) > 0; {
		n := min(chunk, len(rest))
		if err := sp.write(rest[:n], emit); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := sp.close(emit); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSplitterFindsUtterancesAtPauses(t *testing.T) {
	audio := scene(6000, [2]int{500, 1500}, [2]int{2500, 3000}, [2]int{3200, 4000}, [2]int{5000, 5040})
	// 500–1500 and 2500–3000 are apart by a long pause; 3000–3200 is a
	// 200 ms gap, under the 400 ms Pause, so 2500–4000 is one utterance;
	// 5000–5040 is a 40 ms click, dropped.
	want := [][2]int{{500, 1500}, {2500, 4000}}
	for _, chunk := range []int{1, 77, 800, 1 << 20} {
		got := split(t, audio, Config{}, chunk)
		if len(got) != len(want) {
			t.Fatalf("chunk %d: %d utterances %v, want %d", chunk, len(got), got, len(want))
		}
		for i, w := range want {
			g := got[i]
			ms := func(s int64) int { return int(s / 8) }
			if abs(ms(g.speechStart)-w[0]) > 20 || abs(ms(g.speechEnd)-w[1]) > 20 {
				t.Errorf("chunk %d: utterance %d speech %d–%d ms, want %v", chunk, i, ms(g.speechStart), ms(g.speechEnd), w)
			}
			// Padding of padMS each side, within a frame.
			if d := ms(g.speechStart-g.start) - padMS; d < -10 || d > 10 {
				t.Errorf("chunk %d: utterance %d leading padding %d ms", chunk, i, ms(g.speechStart-g.start))
			}
			if d := ms(g.end-g.speechEnd) - padMS; d < -10 || d > 10 {
				t.Errorf("chunk %d: utterance %d trailing padding %d ms", chunk, i, ms(g.end-g.speechEnd))
			}
		}
	}
}

func TestSplitterSilenceAndSpeechAtEdges(t *testing.T) {
	if got := split(t, make([]int16, 8000*3), Config{}, 800); len(got) != 0 {
		t.Errorf("digital silence: %v", got)
	}
	if got := split(t, scene(3000), Config{}, 800); len(got) != 0 {
		t.Errorf("line noise: %v", got)
	}
	// Speech from the first sample to the last: one utterance covering
	// all of it, without padding it does not have.
	got := split(t, scene(2000, [2]int{0, 2000}), Config{}, 800)
	if len(got) != 1 || got[0].start != 0 || got[0].speechStart != 0 || got[0].end != 16000 {
		t.Errorf("speech throughout: %v", got)
	}
}

func TestSplitterCutsLongUtterances(t *testing.T) {
	audio := scene(7000, [2]int{0, 7000})
	got := split(t, audio, Config{MaxUtterance: 2 * time.Second}, 333)
	if len(got) != 4 {
		t.Fatalf("7 s without a pause, 2 s maximum: %d utterances %v", len(got), got)
	}
	// The pieces tile the audio: nothing lost, nothing decoded twice.
	var next int64
	for i, g := range got {
		if g.start != next {
			t.Errorf("utterance %d starts at %d, previous ended at %d", i, g.start, next)
		}
		if g.end-g.start > 2*8000 {
			t.Errorf("utterance %d is %d samples long", i, g.end-g.start)
		}
		next = g.end
	}
	if next != int64(len(audio)) {
		t.Errorf("utterances end at %d of %d samples", next, len(audio))
	}
}

func TestEnergyDBFS(t *testing.T) {
	full := slices.Repeat([]int16{32767, -32767}, 40)
	if e := energyDBFS(full); math.Abs(e) > 0.01 {
		t.Errorf("full-scale square: %.2f dBFS", e)
	}
	if e := energyDBFS(make([]int16, 80)); e != -100 {
		t.Errorf("silence: %.2f dBFS", e)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
