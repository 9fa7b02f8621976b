package sherpa

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/utterance"
)

// ErrClosed is wrapped by Transcribe's error after Close.
var ErrClosed = utterance.ErrClosed

// minSamples is the shortest utterance decoded, in 16 kHz samples (100 ms):
// shorter ones hold no word, and Paraformer's frame stacking reads past
// the end of fewer frames than its window.
const minSamples = 1600

// recognizer is one loaded sherpa-onnx recogniser. The cgo build provides
// the real one; tests of the engine's wiring use fakes. A recognizer is
// used by one goroutine at a time.
type recognizer interface {
	// recognize decodes one whole utterance of 16 kHz audio.
	recognize(pcm []int16) recognized
	// free releases the recogniser's C memory.
	free()
}

// recognized is a recogniser's result for one utterance.
type recognized struct {
	Text string
	// Confidence is from 0 to 1, or -1 when the model gives none.
	Confidence float64
}

// Engine transcribes with sherpa-onnx. It is safe for concurrent use: each
// utterance borrows a recogniser from a pool of at most
// Config.MaxConcurrent and waits for one when all are busy.
type Engine struct {
	pool *utterance.Pool[recognizer]
	tr   *utterance.Transcriber[recognizer]
}

var _ asr.Engine = (*Engine)(nil)

// newEngine builds an Engine around a recogniser constructor. It checks the
// voice-activity configuration and loads the first recogniser, so that a
// configuration that cannot work fails here rather than at the first
// voicemail.
func newEngine(cfg Config, newRecognizer func() (recognizer, error)) (*Engine, error) {
	opts := cfg.utterances()
	if err := opts.CheckVAD(); err != nil {
		return nil, fmt.Errorf("sherpa: %w", err)
	}
	pool := utterance.NewPool(Name, cfg.MaxConcurrent, newRecognizer, recognizer.free)
	if err := pool.Preload(); err != nil {
		return nil, err
	}
	return &Engine{pool: pool, tr: &utterance.Transcriber[recognizer]{
		Name:     Name,
		Language: cfg.Language,
		Options:  opts,
		Pool:     pool,
		// Offline recognisers keep no state between utterances, so a
		// long recording need not hold one between them.
		Borrow:     utterance.PerUtterance,
		Decode:     recognize,
		MinSamples: minSamples,
	}}, nil
}

// recognize decodes one utterance. Segment times stay the utterance's: the
// offline recognisers give no reliable word times for every family.
func recognize(r recognizer, pcm []int16) (utterance.Decoded, error) {
	out := r.recognize(pcm)
	return utterance.Decoded{Text: tidy(out.Text), Confidence: out.Confidence}, nil
}

// Name returns "sherpa".
func (e *Engine) Name() string { return Name }

// Close frees the idle recognisers; recognisers in use are freed when
// their utterance is decoded. Transcribe fails with ErrClosed afterwards.
func (e *Engine) Close() error {
	e.pool.Close()
	return nil
}

// Transcribe decodes a.PCM (16-bit little-endian mono at 8 or 16 kHz)
// utterance by utterance, as utterance.Transcriber does, borrowing a
// recogniser for each utterance.
func (e *Engine) Transcribe(ctx context.Context, a asr.Audio, opts asr.Options) (*asr.Result, error) {
	return e.tr.Transcribe(ctx, a, opts)
}

// tidy collapses a model's whitespace and lower-cases all-capital output:
// transducers trained on LibriSpeech write "CALL ME BACK", which reads as
// shouting in an e-mail; mixed-case output (Whisper's) is left as it is.
func tidy(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if strings.IndexFunc(text, unicode.IsLower) < 0 {
		text = strings.ToLower(text)
	}
	return text
}

// confidence is the mean probability of a result's tokens from their log
// probabilities, as Amazon Transcribe gives a confidence per word, or -1
// when the model gave none.
func confidence(logProbs []float32) float64 {
	if len(logProbs) == 0 {
		return -1
	}
	sum := 0.0
	for _, lp := range logProbs {
		sum += math.Exp(float64(lp))
	}
	return sum / float64(len(logProbs))
}
