// Package utterancetest helps test the engines built on package utterance:
// synthetic telephone recordings whose speech the voice-activity detector
// finds where the test put it, concurrent transcription, and a record of
// the decoders a fake constructor loads.
package utterancetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vmx-dev/vmx/internal/asr"
)

// Scene builds 8 kHz test audio: low line noise with "speech" in the given
// spans, in milliseconds: loud noise in syllable-rate bursts, which the
// voice-activity detector takes for speech (a steady tone it would reject
// as a beep). The same arguments always give the same samples.
func Scene(totalMS int, speech ...[2]int) []int16 {
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

// Wide doubles each sample of 8 kHz audio: the same recording at 16 kHz,
// for tests of audio that needs no upsampling.
func Wide(narrow []int16) []int16 {
	wide := make([]int16, 2*len(narrow))
	for i, v := range narrow {
		wide[2*i], wide[2*i+1] = v, v
	}
	return wide
}

// PCMBytes encodes samples as 16-bit little-endian PCM, as asr.Audio
// carries them.
func PCMBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// Telephone is 8 kHz PCM as asr.Audio.
func Telephone(pcm []byte) asr.Audio {
	return asr.Audio{PCM: bytes.NewReader(pcm), SampleRate: 8000}
}

// Near reports whether got is within tol of want.
func Near(got, want, tol int64) bool { return got >= want-tol && got <= want+tol }

// Transcriber is what Concurrent drives: an asr.Engine's Transcribe.
type Transcriber interface {
	Transcribe(ctx context.Context, a asr.Audio, opts asr.Options) (*asr.Result, error)
}

// Concurrent transcribes the 8 kHz pcm n times at once and fails t unless
// every transcript is the same and not empty; it returns that transcript.
// Decoders shared between transcriptions must not leak state across them.
func Concurrent(t testing.TB, e Transcriber, pcm []byte, n int) string {
	t.Helper()
	texts := make([]string, n)
	var wg sync.WaitGroup
	for i := range texts {
		wg.Go(func() {
			r, err := e.Transcribe(context.Background(), Telephone(pcm), asr.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			texts[i] = r.Text
		})
	}
	wg.Wait()
	for _, s := range texts[1:] {
		if s != texts[0] || s == "" {
			t.Errorf("concurrent transcripts differ: %q and %q", s, texts[0])
		}
	}
	return texts[0]
}

// Loads records what a fake decoder constructor loads and frees, for
// tests of how an engine uses its Pool. It is safe for concurrent use.
type Loads[D any] struct {
	// Created and Freed count the decoders loaded and freed.
	Created, Freed atomic.Int32
	mu             sync.Mutex
	all            []D
}

// Add records a newly loaded decoder and returns it.
func (l *Loads[D]) Add(d D) D {
	l.Created.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, d)
	return d
}

// All returns the decoders loaded so far, in order.
func (l *Loads[D]) All() []D {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}
