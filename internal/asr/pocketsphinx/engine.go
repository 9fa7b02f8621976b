package pocketsphinx

import (
	"context"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/utterance"
)

// frameMS is PocketSphinx's frame step: word times come in frames.
const frameMS = 10

// ErrClosed is wrapped by Transcribe's error after Close.
var ErrClosed = utterance.ErrClosed

// decoder is one loaded PocketSphinx decoder. The cgo build provides the
// real one; tests of the engine's wiring use fakes. A decoder is used by
// one goroutine at a time.
type decoder interface {
	// startStream tells the decoder a new recording begins, so that its
	// noise and silence estimates from the last one do not carry over.
	// narrowband says the recording is 8 kHz telephone audio (upsampled),
	// for which the decoder applies its telephone channel transform.
	startStream(narrowband bool) error
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
	pool *utterance.Pool[decoder]
	// narrow transcribes 8 kHz recordings, wide the others; they differ
	// in how they start a decoder's stream.
	narrow, wide *utterance.Transcriber[decoder]
}

var _ asr.Engine = (*Engine)(nil)

// newEngine builds an Engine around a decoder constructor and loads the
// first decoder, so that a configuration PocketSphinx rejects fails here
// rather than at the first voicemail.
func newEngine(cfg Config, newDecoder func() (decoder, error)) (*Engine, error) {
	pool := utterance.NewPool(Name, cfg.MaxDecoders, newDecoder, decoder.free)
	if err := pool.Preload(); err != nil {
		return nil, err
	}
	transcriber := func(narrowband bool) *utterance.Transcriber[decoder] {
		return &utterance.Transcriber[decoder]{
			Name:     Name,
			Language: cfg.Language,
			Options:  cfg.utterances(),
			Pool:     pool,
			// A decoder is held for the whole recording and its stream
			// started once, so that its noise estimates adapt across the
			// recording's utterances but not from one recording to the
			// next.
			Borrow: utterance.PerRecording,
			Start:  func(d decoder) error { return d.startStream(narrowband) },
			Decode: decode,
		}
	}
	return &Engine{pool: pool, narrow: transcriber(true), wide: transcriber(false)}, nil
}

// decode decodes one utterance, with the word times in milliseconds.
func decode(d decoder, pcm []int16) (utterance.Decoded, error) {
	r, err := d.decode(pcm)
	if err != nil {
		return utterance.Decoded{}, err
	}
	out := utterance.Decoded{Text: r.Text, Confidence: r.Confidence}
	if r.FirstFrame >= 0 && r.LastFrame >= r.FirstFrame {
		out.WordsStartMS = int64(r.FirstFrame) * frameMS
		out.WordsEndMS = int64(r.LastFrame+1) * frameMS
	}
	return out, nil
}

// Name returns "pocketsphinx".
func (e *Engine) Name() string { return Name }

// Close frees the idle decoders; decoders in use are freed when their
// Transcribe returns. Transcribe fails with ErrClosed afterwards.
func (e *Engine) Close() error {
	e.pool.Close()
	return nil
}

// Transcribe decodes a.PCM (16-bit little-endian mono at 8 or 16 kHz)
// utterance by utterance, as utterance.Transcriber does, with one decoder
// for the whole recording. 8 kHz audio is taken for a telephone line's
// and decoded with the telephone channel transform.
func (e *Engine) Transcribe(ctx context.Context, a asr.Audio, opts asr.Options) (*asr.Result, error) {
	if a.SampleRate == 8000 {
		return e.narrow.Transcribe(ctx, a, opts)
	}
	return e.wide.Transcribe(ctx, a, opts)
}
