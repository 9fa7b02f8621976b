package vad

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vmx-dev/vmx/internal/asr/testset"
)

// Test signals at 8 kHz as float samples in [-1, 1].

const testRate = 8000

// piece is a stretch of a synthesized message.
type piece struct {
	ms   int
	kind string // "silence", "speech", "beep"
}

// script builds a message from pieces and returns it with its true speech
// spans (the words, edge to edge, joined across pauses shorter than 300 ms
// as the Analyzer joins them).
func script(seed uint64, pieces ...piece) ([]float64, []Span) {
	s, words := scriptWords(seed, pieces...)
	return s, mergeTruth(words, 300)
}

// scriptWords is script returning the words unjoined.
func scriptWords(seed uint64, pieces ...piece) ([]float64, []Span) {
	rng := rand.New(rand.NewPCG(seed, seed^0xabcdef))
	var out []float64
	var truth []Span
	for _, p := range pieces {
		n := p.ms * testRate / 1000
		start := len(out)
		switch p.kind {
		case "silence":
			out = append(out, make([]float64, n)...)
		case "beep":
			out = append(out, tone(n, 1000, 0.4)...)
		case "speech":
			s, spans := speechLike(rng, n)
			out = append(out, s...)
			for _, sp := range spans {
				truth = append(truth, Span{
					StartMS: int64(start+int(sp.StartMS)) * 1000 / testRate,
					EndMS:   int64(start+int(sp.EndMS)) * 1000 / testRate,
				})
			}
		}
	}
	return out, truth
}

// mergeTruth joins true spans closer than gapMS, as the Analyzer does.
func mergeTruth(spans []Span, gapMS int64) []Span {
	var out []Span
	for _, s := range spans {
		if n := len(out); n > 0 && s.StartMS-out[n-1].EndMS < gapMS {
			out[n-1].EndMS = s.EndMS
			continue
		}
		out = append(out, s)
	}
	return out
}

// speechLike fills n samples with words: runs of syllables, each a voiced
// burst (a glottal-like harmonic series with a gliding pitch through two
// moving formant resonances) under a raised-cosine envelope, with dips of
// 20-60 ms between syllables and 100-200 ms between words, and the remainder
// of n silent. It returns the spans of
// the words in samples.
func speechLike(rng *rand.Rand, n int) ([]float64, []Span) {
	out := make([]float64, n)
	var words []Span
	pos := 0
	for {
		syll := 1 + rng.IntN(3)
		wordStart := pos
		var wordEnd int
		for range syll {
			l := (120 + rng.IntN(160)) * testRate / 1000
			if pos+l > n {
				break
			}
			voiced(rng, out[pos:pos+l])
			wordEnd = pos + l
			pos += l + (20+rng.IntN(40))*testRate/1000
		}
		if wordEnd > wordStart {
			words = append(words, Span{StartMS: int64(wordStart), EndMS: int64(wordEnd)})
		}
		pos = wordEnd + (100+rng.IntN(100))*testRate/1000 // between words
		if pos >= n || wordEnd == 0 {
			break
		}
	}
	return out, words
}

// voiced writes one syllable into s.
func voiced(rng *rand.Rand, s []float64) {
	f0 := 100 + 120*rng.Float64()
	glide := (rng.Float64() - 0.5) * 0.4
	f1a, f1b := 300+500*rng.Float64(), 300+500*rng.Float64()
	f2a, f2b := 900+1500*rng.Float64(), 900+1500*rng.Float64()
	amp := 0.15 + 0.2*rng.Float64()
	phase := 0.0
	n := len(s)
	for i := range s {
		t := float64(i) / float64(n)
		f := f0 * (1 + glide*t)
		phase += 2 * math.Pi * f / testRate
		f1 := f1a + (f1b-f1a)*t
		f2 := f2a + (f2b-f2a)*t
		var v float64
		for h := 1; float64(h)*f < 3800; h++ {
			hf := float64(h) * f
			g := 1/(1+sq((hf-f1)/120)) + 0.5/(1+sq((hf-f2)/180)) + 0.02
			v += g * math.Sin(float64(h)*phase) / math.Sqrt(float64(h))
		}
		env := 0.5 - 0.5*math.Cos(2*math.Pi*t)
		s[i] = amp * env * v * 0.3
	}
}

func sq(x float64) float64 { return x * x }

func tone(n int, hz, amp float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = amp * math.Sin(2*math.Pi*hz*float64(i)/testRate)
	}
	return out
}

// addNoise adds white or pink noise at snrDB below the RMS of the speech in
// s (the samples within truth); with no truth, at level dB RMS.
func addNoise(s []float64, truth []Span, snrDB float64, pink bool, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	var sum float64
	var cnt int
	for _, sp := range truth {
		for i := sp.StartMS * testRate / 1000; i < sp.EndMS*testRate/1000; i++ {
			sum += s[i] * s[i]
			cnt++
		}
	}
	level := math.Pow(10, -snrDB/20) // noise RMS
	if cnt > 0 {
		level *= math.Sqrt(sum / float64(cnt))
	}
	noise := make([]float64, len(s))
	var b0, b1, b2, b3, b4, b5, b6 float64
	var nsum float64
	for i := range noise {
		w := rng.NormFloat64()
		if pink { // Paul Kellet's pink filter
			b0 = 0.99886*b0 + w*0.0555179
			b1 = 0.99332*b1 + w*0.0750759
			b2 = 0.96900*b2 + w*0.1538520
			b3 = 0.86650*b3 + w*0.3104856
			b4 = 0.55000*b4 + w*0.5329522
			b5 = -0.7616*b5 - w*0.0168980
			w = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w*0.5362
			b6 = w * 0.115926
		}
		noise[i] = w
		nsum += w * w
	}
	g := level / math.Sqrt(nsum/float64(len(noise)))
	out := make([]float64, len(s))
	for i := range s {
		out[i] = s[i] + g*noise[i]
	}
	return out
}

func pcm16(s []float64) []int16 {
	out := make([]int16, len(s))
	for i, v := range s {
		out[i] = int16(max(-32768, min(32767, math.Round(v*32767))))
	}
	return out
}

func pcmBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// flite synthesizes text with one of flite's voices at 8 kHz (kal speaks
// at 8 kHz, the others at 16 kHz and are decimated), skipping the test when
// flite is not installed.
func flite(t testing.TB, voice, text string) []int16 {
	t.Helper()
	if _, err := exec.LookPath("flite"); err != nil {
		if os.Getenv("CI") != "" && os.Getenv("VMX_REQUIRE_SILERO") == "1" {
			t.Fatal("VMX_REQUIRE_SILERO=1: the speech tests need flite (apt-get install flite)")
		}
		t.Skip("flite not installed (apt-get install flite)")
	}
	s, rate, err := testset.Speak(context.Background(), voice, text, filepath.Join(t.TempDir(), "speech.wav"))
	if err != nil {
		t.Fatal(err)
	}
	switch rate {
	case testRate:
		return s
	case 2 * testRate:
		return decimate2(s)
	}
	t.Fatalf("flite wrote %d Hz", rate)
	return nil
}

// decimate2 halves the rate of s through a windowed-sinc low-pass at
// 3.6 kHz.
func decimate2(s []int16) []int16 {
	const m = 32
	var h [2*m + 1]float64
	for i := range h {
		x := float64(i - m)
		w := 0.42 + 0.5*math.Cos(math.Pi*x/(m+1)) + 0.08*math.Cos(2*math.Pi*x/(m+1))
		h[i] = 0.45 * w
		if x != 0 {
			h[i] = math.Sin(2*math.Pi*0.225*x) / (math.Pi * x) * w
		}
	}
	out := make([]int16, len(s)/2)
	for n := range out {
		var y float64
		for i, c := range h {
			if k := 2*n + i - m; k >= 0 && k < len(s) {
				y += c * float64(s[k])
			}
		}
		out[n] = int16(max(-32768, min(32767, math.Round(y))))
	}
	return out
}

// levelSpans finds the speech in clean audio by its own level: runs of 10 ms
// blocks within 35 dB of the loudest block, joined across gaps < gapMS.
func levelSpans(s []int16, gapMS int64) []Span {
	const block = testRate / 100
	var levels []float64
	top := -200.0
	for i := 0; i+block <= len(s); i += block {
		var sum float64
		for _, v := range s[i : i+block] {
			sum += float64(v) * float64(v)
		}
		l := 10 * math.Log10(sum/block+1e-9)
		levels = append(levels, l)
		top = max(top, l)
	}
	var spans []Span
	for i, l := range levels {
		if l < top-35 {
			continue
		}
		sp := Span{StartMS: int64(i) * 10, EndMS: int64(i+1) * 10}
		if n := len(spans); n > 0 && sp.StartMS-spans[n-1].EndMS < gapMS {
			spans[n-1].EndMS = sp.EndMS
			continue
		}
		spans = append(spans, sp)
	}
	return spans
}

// frameAgreement is the share of 10 ms blocks in [0, totalMS) on which got
// and want agree.
func frameAgreement(got, want []Span, totalMS int64) float64 {
	in := func(spans []Span, t int64) bool {
		for _, s := range spans {
			if t >= s.StartMS && t < s.EndMS {
				return true
			}
		}
		return false
	}
	agree, n := 0, 0
	for t := int64(5); t < totalMS; t += 10 {
		if in(got, t) == in(want, t) {
			agree++
		}
		n++
	}
	return float64(agree) / float64(n)
}

// fliteVoicemail is a voicemail as a line carries it: the 1 kHz beep, half
// a second of silence, a flite voice leaving a message, a second of
// silence. It returns the samples scaled to ±1 and the speech spans the
// level truth finds after the beep.
func fliteVoicemail(t *testing.T, voice string) ([]float64, []Span) {
	t.Helper()
	const text = "Hi, this is Mary calling about my order number four five six seven. " +
		"Please call me back at your earliest convenience. Thank you, goodbye."
	msg := append(pcm16(tone(testRate/2, 1000, 0.4)), make([]int16, testRate/2)...)
	offset := int64(len(msg)) * 1000 / testRate
	msg = append(msg, flite(t, voice, text)...)
	msg = append(msg, make([]int16, testRate)...)
	want := levelSpans(msg, 300)
	if want[0].StartMS < offset { // the beep is loud too
		want = want[1:]
	}
	fl := make([]float64, len(msg))
	for i, v := range msg {
		fl[i] = float64(v) / 32768
	}
	return fl, want
}
