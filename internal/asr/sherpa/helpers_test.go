package sherpa

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

// scene builds 8 kHz test audio: low line noise with "speech" in the given
// spans, in milliseconds: loud noise in syllable-rate bursts, which the
// voice-activity detector takes for speech (a steady tone it would reject
// as a beep).
func scene(totalMS int, speech ...[2]int) []int16 {
	rng := rand.New(rand.NewPCG(7, 7))
	s := make([]int16, totalMS*8)
	for i := range s {
		s[i] = int16(rng.NormFloat64() * 10) // ≈ −70 dBFS
	}
	for _, sp := range speech {
		for i := sp[0] * 8; i < sp[1]*8; i++ {
			t := float64(i-sp[0]*8) / 8000
			s[i] += int16(rng.NormFloat64() * 3000 * (0.4 + 0.6*math.Abs(math.Sin(2*math.Pi*3*t))))
		}
	}
	return s
}

func pcmBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}
