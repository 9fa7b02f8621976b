// Package utterance is what vmx's embedded speech-to-text engines share:
// they cut a recording into utterances at pauses with voice-activity
// detection, upsample 8 kHz telephone audio to the 16 kHz their models
// are trained on and decode each utterance whole with a decoder borrowed
// from a Pool. An engine supplies only its decoder: how to load, start,
// run and free one (see Transcriber).
package utterance

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/audio/resample"
	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// Decoded is a decoder's result for one utterance.
type Decoded struct {
	// Text is the words recognised; empty when there were none (noise
	// the detector took for speech), and then no segment is made.
	Text string
	// Confidence is from 0 to 1, or -1 when the decoder gives none.
	Confidence float64
	// WordsStartMS and WordsEndMS bound the words, in milliseconds from
	// the start of the utterance's audio, when the decoder knows them
	// (0 <= WordsStartMS < WordsEndMS): the segment then has these
	// tighter times rather than the detector's padded span.
	WordsStartMS, WordsEndMS int64
}

// Borrow is how long a transcription holds a decoder from the Pool.
type Borrow int

const (
	// PerRecording borrows a decoder at the first utterance and holds it
	// to the end of the recording, for decoders that carry state from
	// one utterance to the next (PocketSphinx's noise estimates). A
	// silent recording never borrows one.
	PerRecording Borrow = iota
	// PerUtterance borrows a decoder for each utterance, so that a long
	// recording does not hold one between utterances.
	PerUtterance
)

// Transcriber transcribes recordings utterance by utterance with decoders
// of type D. It is safe for concurrent use when its fields are not changed.
type Transcriber[D any] struct {
	// Name is the engine's: asr.Result.Engine and the prefix of errors.
	Name string
	// Language is the model's language as a BCP 47 tag; Transcribe
	// refuses asr.Options.Language of another primary language.
	Language string
	// Options cut the recording; defaulted and valid.
	Options Options
	// Pool lends the decoders.
	Pool *Pool[D]
	// Borrow says when a decoder is borrowed and returned.
	Borrow Borrow
	// Start, when set, prepares a decoder each time it is borrowed: with
	// PerRecording, once per recording, before its first utterance. A
	// decoder that fails it is discarded.
	Start func(D) error
	// Decode decodes one whole utterance of 16 kHz audio. It must not
	// keep pcm. A decoder that fails it is discarded.
	Decode func(d D, pcm []int16) (Decoded, error)
	// MinSamples skips utterances shorter than this many 16 kHz samples
	// without borrowing a decoder: for models that hold no word in, or
	// cannot decode, very short audio.
	MinSamples int
}

// Transcribe reads a.PCM (16-bit little-endian mono at 8 or 16 kHz) to its
// end, cuts it into utterances at pauses, upsamples 8 kHz audio to 16 kHz
// and decodes each utterance whole. It holds one utterance of audio at a
// time, not the recording. ctx is checked between utterances: one
// utterance's decoding (at most MaxUtterance of audio) is not interrupted.
func (t *Transcriber[D]) Transcribe(ctx context.Context, a asr.Audio, opts asr.Options) (*asr.Result, error) {
	if !Speaks(t.Language, opts.Language) {
		return nil, fmt.Errorf("%s: the model is %s; cannot transcribe %s: %w", t.Name, t.Language, opts.Language, asr.ErrUnavailable)
	}
	if a.SampleRate != 8000 && a.SampleRate != 16000 {
		return nil, fmt.Errorf("%s: sample rate %d Hz not supported (8000 or 16000)", t.Name, a.SampleRate)
	}
	if a.PCM == nil {
		return nil, fmt.Errorf("%s: no audio", t.Name)
	}
	r := &run[D]{t: t, ctx: ctx, res: &asr.Result{Engine: t.Name, Segments: []asr.Segment{}}}
	if a.SampleRate == 8000 {
		r.up = resample.NewUpsampler()
	}
	defer r.release()

	det, err := vad.New(t.Options.vadConfig(a.SampleRate))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	defer det.Close()
	seg, err := vad.NewSegmenter(det, t.Options.vadOptions())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	if err := t.feed(ctx, a, seg, r.decode); err != nil {
		return nil, err
	}
	speech, err := seg.Finish(r.decode)
	if err != nil {
		return nil, err
	}

	res := r.res
	res.AudioMS, res.SpeechMS = speech.AudioMS, speech.SpeechMS
	texts := make([]string, 0, len(res.Segments))
	for _, s := range res.Segments {
		texts = append(texts, s.Text)
	}
	res.Text = strings.Join(texts, " ")
	// Speech the decoder found no words in (a cough, line noise) leaves
	// the voicemail as empty as no speech at all.
	res.Empty = speech.Empty || len(res.Segments) == 0
	return res, nil
}

// feed reads a.PCM to its end into seg, which calls emit for each
// utterance it completes.
func (t *Transcriber[D]) feed(ctx context.Context, a asr.Audio, seg *vad.Segmenter, emit func(vad.Utterance) error) error {
	// 100 ms reads: small enough to stay responsive to ctx, large enough
	// that the read calls cost nothing next to decoding.
	raw := make([]byte, a.SampleRate/10*2+1)
	samples := make([]int16, a.SampleRate/10)
	odd := 0 // 1 when raw[0] holds the first byte of a split sample
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := a.PCM.Read(raw[odd:])
		n += odd
		whole := n / 2
		for i := range whole {
			samples[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		odd = n % 2
		if odd == 1 {
			raw[0] = raw[n-1]
		}
		if err := seg.Write(samples[:whole], emit); err != nil {
			return err
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("%s: reading audio: %w", t.Name, rerr)
		}
	}
}

// run is the state of one Transcribe call.
type run[D any] struct {
	t    *Transcriber[D]
	ctx  context.Context
	up   *resample.Upsampler // nil for 16 kHz input
	wide []int16             // the utterance at 16 kHz, reused
	dec  D                   // the borrowed decoder, when held
	held bool
	bad  bool // dec failed and must not be reused
	res  *asr.Result
}

// decode decodes one utterance into a segment.
func (r *run[D]) decode(u vad.Utterance) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	pcm := u.Samples
	if r.up != nil {
		pcm = r.upsample(pcm)
	}
	if len(pcm) < r.t.MinSamples {
		return nil
	}
	if err := r.borrow(); err != nil {
		return err
	}
	d, err := r.t.Decode(r.dec, pcm)
	if err != nil {
		r.bad = true
		return err
	}
	if r.t.Borrow == PerUtterance {
		r.release()
	}
	if d.Text == "" {
		return nil // noise the detector took for speech
	}
	seg := asr.Segment{
		StartMS:    u.Span.StartMS,
		EndMS:      u.Span.EndMS,
		Text:       d.Text,
		Confidence: d.Confidence,
	}
	if d.WordsStartMS >= 0 && d.WordsEndMS > d.WordsStartMS {
		seg.StartMS = u.Span.StartMS + d.WordsStartMS
		seg.EndMS = min(u.Span.StartMS+d.WordsEndMS, u.Span.EndMS)
	}
	r.res.Segments = append(r.res.Segments, seg)
	return nil
}

// borrow gets a decoder from the pool unless one is held, and starts it.
func (r *run[D]) borrow() error {
	if r.held {
		return nil
	}
	d, err := r.t.Pool.Get(r.ctx)
	if err != nil {
		return err
	}
	r.dec, r.held = d, true
	if r.t.Start != nil {
		if err := r.t.Start(d); err != nil {
			r.bad = true
			return err
		}
	}
	return nil
}

// release returns the held decoder to the pool, or discards it if it
// failed.
func (r *run[D]) release() {
	switch {
	case !r.held:
	case r.bad:
		r.t.Pool.Discard(r.dec)
	default:
		r.t.Pool.Put(r.dec)
	}
	var zero D
	r.dec, r.held, r.bad = zero, false, false
}

// upsample converts one 8 kHz utterance to 16 kHz, delay-compensated so
// that times still line up with the 8 kHz stream. Each utterance starts the
// filter from silence: utterances begin and end in a pause, so nothing
// audible is lost.
func (r *run[D]) upsample(pcm []int16) []int16 {
	delay := r.up.Delay()
	need := 2*len(pcm) + delay
	if cap(r.wide) < need {
		r.wide = make([]int16, need)
	}
	w := r.wide[:need]
	r.up.Reset()
	n := r.up.Process(w, pcm)
	r.up.Flush(w[n:])
	return w[delay:]
}
