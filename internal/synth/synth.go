// Package synth generates deterministic telephone audio for demos, tests and
// benchmarks: a caller who speaks in syllable-like voiced bursts and pauses,
// and an IVR side that plays a prompt and a beep. It is a signal with the
// rhythm and spectrum of speech, not intelligible speech.
package synth

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

// SampleRate is the rate of the generated audio: Amazon Connect's 8 kHz.
const SampleRate = 8000

// Call generates the two tracks of a voicemail call sample by sample, so
// calls of any length are produced in constant memory.
type Call struct {
	// PromptEnd is where the IVR prompt ends, in samples; a 1 kHz beep of
	// 0.5 s follows 0.3 s later and the caller starts 0.3 s after the beep.
	PromptEnd int

	n      int // index of the next sample
	caller voice
	prompt voice
}

// NewCall returns a call whose prompt lasts promptSeconds; seed makes the
// caller's voice and rhythm reproducible.
func NewCall(seed uint64, promptSeconds float64) *Call {
	return &Call{
		PromptEnd: int(promptSeconds * SampleRate),
		caller:    newVoice(seed, 105+float64(seed%40)),
		prompt:    newVoice(seed^0x9E3779B97F4A7C15, 190),
	}
}

// CallerStart is the first sample of the caller's message.
func (c *Call) CallerStart() int { return c.PromptEnd + SampleRate*11/10 }

// Read fills from and to with the next samples of each track as s16le. Both
// slices must have the same even length.
func (c *Call) Read(from, to []byte) {
	beepStart := c.PromptEnd + SampleRate*3/10
	beepEnd := beepStart + SampleRate/2
	for i := 0; i+1 < len(from); i += 2 {
		n := c.n
		var f, t float64
		switch {
		case n < c.PromptEnd:
			t = c.prompt.sample(n)
		case n >= beepStart && n < beepEnd:
			t = 0.4 * math.Sin(2*math.Pi*1000*float64(n)/SampleRate)
		}
		if n >= c.CallerStart() {
			f = c.caller.sample(n - c.CallerStart())
		}
		binary.LittleEndian.PutUint16(from[i:], uint16(pcm16(f)))
		binary.LittleEndian.PutUint16(to[i:], uint16(pcm16(t)))
		c.n++
	}
}

func pcm16(v float64) int16 {
	return int16(max(-32767, min(32767, math.Round(v*32767))))
}

// voice alternates voiced syllables and pauses drawn from a seeded source.
type voice struct {
	rng        *rand.Rand
	f0         float64
	start, end int // current segment
	voiced     bool
	pitch      float64
	formants   [2]float64
	phase      float64
}

func newVoice(seed uint64, f0 float64) voice {
	return voice{rng: rand.New(rand.NewPCG(seed, 0x5EED)), f0: f0}
}

func (v *voice) next() {
	v.start = v.end
	v.voiced = !v.voiced
	if v.voiced {
		v.end += SampleRate * (120 + v.rng.IntN(200)) / 1000
		v.pitch = v.f0 * (0.85 + 0.3*v.rng.Float64())
		// Formant pairs (Hz) of the vowels a, e, i, o, u.
		vowels := [...][2]float64{{730, 1090}, {530, 1840}, {270, 2290}, {570, 840}, {300, 870}}
		v.formants = vowels[v.rng.IntN(len(vowels))]
		return
	}
	pause := 40 + v.rng.IntN(120)
	if v.rng.IntN(8) == 0 {
		pause += 300 + v.rng.IntN(400) // between phrases
	}
	v.end += SampleRate * pause / 1000
}

func (v *voice) sample(n int) float64 {
	for n >= v.end {
		v.next()
	}
	if !v.voiced {
		return 0
	}
	// Raised-cosine envelope over the syllable, harmonics weighted by their
	// distance to the vowel's formants.
	pos := float64(n-v.start) / float64(v.end-v.start)
	env := 0.5 - 0.5*math.Cos(2*math.Pi*pos)
	v.phase += 2 * math.Pi * v.pitch / SampleRate
	var s float64
	for h := 1; float64(h)*v.pitch < 3400; h++ {
		f := float64(h) * v.pitch
		w := 1/(1+sq((f-v.formants[0])/150)) + 0.6/(1+sq((f-v.formants[1])/200))
		s += w * math.Sin(float64(h)*v.phase)
	}
	return 0.25 * env * s
}

func sq(x float64) float64 { return x * x }
