package pocketsphinx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/audio/resample"
	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// frameMS is PocketSphinx's frame step: word times come in frames.
const frameMS = 10

// ErrClosed is returned by Transcribe after Close.
var ErrClosed = errors.New("pocketsphinx: engine closed")

// decoder is one loaded PocketSphinx decoder. The cgo build provides the
// real one; tests of the pool and of Transcribe's plumbing use fakes.
// A decoder is used by one goroutine at a time.
type decoder interface {
	// startStream tells the decoder a new recording begins, so that its
	// noise and silence estimates from the last one do not carry over.
	startStream() error
	// decode recognises one whole utterance of 16 kHz audio.
	decode(pcm []int16) (decoded, error)
	// free releases the decoder's C memory.
	free()
}

// decoded is a decoder's result for one utterance.
type decoded struct {
	Text string
	// Confidence is the posterior probability of the hypothesis, from 0
	// to 1, or -1 when the decoder computed none.
	Confidence float64
	// FirstFrame and LastFrame bound the words recognised, in 10 ms
	// frames from the start of the utterance (LastFrame inclusive); -1
	// when unknown.
	FirstFrame, LastFrame int
}

// Engine transcribes with PocketSphinx. It is safe for concurrent use:
// each Transcribe borrows a decoder from a pool of at most
// Config.MaxDecoders and waits for one when all are busy.
type Engine struct {
	cfg  Config
	pool *pool
}

var _ asr.Engine = (*Engine)(nil)

// newEngine builds an Engine around a decoder constructor and loads the
// first decoder, so that a configuration PocketSphinx rejects fails here
// rather than at the first voicemail.
func newEngine(cfg Config, newDecoder func() (decoder, error)) (*Engine, error) {
	e := &Engine{cfg: cfg, pool: newPool(cfg.MaxDecoders, newDecoder)}
	d, err := e.pool.get(context.Background())
	if err != nil {
		return nil, err
	}
	e.pool.put(d)
	return e, nil
}

// Name returns "pocketsphinx".
func (e *Engine) Name() string { return Name }

// Close frees the idle decoders; decoders in use are freed when their
// Transcribe returns. Transcribe fails with ErrClosed afterwards.
func (e *Engine) Close() error {
	e.pool.close()
	return nil
}

// Transcribe reads a.PCM (16-bit little-endian mono at 8 or 16 kHz) to its
// end, cuts it into utterances at pauses, upsamples 8 kHz audio to the
// 16 kHz the model was trained on and decodes each utterance whole. It holds
// one utterance of audio at a time, not the recording. ctx is checked
// between utterances: one utterance's decoding (at most MaxUtterance of
// audio) is not interrupted.
func (e *Engine) Transcribe(ctx context.Context, a asr.Audio, opts asr.Options) (*asr.Result, error) {
	if !e.cfg.speaks(opts.Language) {
		return nil, fmt.Errorf("pocketsphinx: the model is %s; cannot transcribe %s: %w", e.cfg.Language, opts.Language, asr.ErrUnavailable)
	}
	if a.SampleRate != 8000 && a.SampleRate != 16000 {
		return nil, fmt.Errorf("pocketsphinx: sample rate %d Hz not supported (8000 or 16000)", a.SampleRate)
	}
	if a.PCM == nil {
		return nil, errors.New("pocketsphinx: no audio")
	}
	t := &transcription{e: e, ctx: ctx, rate: a.SampleRate,
		res: &asr.Result{Engine: Name, Segments: []asr.Segment{}}}
	if a.SampleRate == 8000 {
		t.up = resample.NewUpsampler()
	}
	defer t.release()

	det, err := vad.New(e.cfg.vadConfig(a.SampleRate))
	if err != nil {
		return nil, fmt.Errorf("pocketsphinx: %w", err)
	}
	defer det.Close()
	seg, err := vad.NewSegmenter(det, e.cfg.vadOptions())
	if err != nil {
		return nil, fmt.Errorf("pocketsphinx: %w", err)
	}
	// 100 ms reads: small enough to stay responsive to ctx, large enough
	// that the read calls cost nothing next to decoding.
	raw := make([]byte, a.SampleRate/10*2+1)
	samples := make([]int16, a.SampleRate/10)
	odd := 0 // 1 when raw[0] holds the first byte of a split sample
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
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
		if err := seg.Write(samples[:whole], t.decode); err != nil {
			return nil, err
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("pocketsphinx: reading audio: %w", rerr)
		}
	}
	speech, err := seg.Finish(t.decode)
	if err != nil {
		return nil, err
	}

	r := t.res
	r.AudioMS, r.SpeechMS = speech.AudioMS, speech.SpeechMS
	texts := make([]string, 0, len(r.Segments))
	for _, s := range r.Segments {
		texts = append(texts, s.Text)
	}
	r.Text = strings.Join(texts, " ")
	// Speech the decoder found no words in (a cough, line noise) leaves
	// the voicemail as empty as no speech at all.
	r.Empty = speech.Empty || len(r.Segments) == 0
	return r, nil
}

// transcription is the state of one Transcribe call.
type transcription struct {
	e    *Engine
	ctx  context.Context
	rate int
	up   *resample.Upsampler // nil for 16 kHz input
	wide []int16             // the utterance at 16 kHz, reused
	dec  decoder             // borrowed at the first utterance
	bad  bool                // dec failed and must not be reused
	res  *asr.Result
}

// decode decodes one utterance into a segment. The decoder is borrowed
// lazily, so a silent recording never waits for one.
func (t *transcription) decode(u vad.Utterance) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	if t.dec == nil {
		d, err := t.e.pool.get(t.ctx)
		if err != nil {
			return err
		}
		t.dec = d
		if err := d.startStream(); err != nil {
			t.bad = true
			return err
		}
	}
	pcm := u.Samples
	if t.up != nil {
		pcm = t.upsample(pcm)
	}
	d, err := t.dec.decode(pcm)
	if err != nil {
		t.bad = true
		return err
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
	if d.FirstFrame >= 0 && d.LastFrame >= d.FirstFrame {
		// The decoder's word times are tighter than the detector's
		// padded span.
		seg.StartMS = u.Span.StartMS + int64(d.FirstFrame)*frameMS
		seg.EndMS = min(u.Span.StartMS+int64(d.LastFrame+1)*frameMS, u.Span.EndMS)
	}
	t.res.Segments = append(t.res.Segments, seg)
	return nil
}

// upsample converts one 8 kHz utterance to 16 kHz, delay-compensated so
// that frame times still line up with the 8 kHz stream. Each utterance
// starts the filter from silence: utterances begin and end in a pause, so
// nothing audible is lost.
func (t *transcription) upsample(pcm []int16) []int16 {
	delay := t.up.Delay()
	need := 2*len(pcm) + delay
	if cap(t.wide) < need {
		t.wide = make([]int16, need)
	}
	w := t.wide[:need]
	t.up.Reset()
	n := t.up.Process(w, pcm)
	t.up.Flush(w[n:])
	return w[delay:]
}

// release returns the borrowed decoder to the pool, or frees it if it
// failed: a decoder that failed mid-utterance may be in any state.
func (t *transcription) release() {
	switch {
	case t.dec == nil:
	case t.bad:
		t.e.pool.discard(t.dec)
	default:
		t.e.pool.put(t.dec)
	}
	t.dec = nil
}
