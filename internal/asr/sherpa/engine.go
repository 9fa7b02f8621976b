package sherpa

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/audio/resample"
	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// ErrClosed is returned by Transcribe after Close.
var ErrClosed = errors.New("sherpa: engine closed")

// minSamples is the shortest utterance decoded, in 16 kHz samples (100 ms):
// shorter ones hold no word, and Paraformer's frame stacking reads past
// the end of fewer frames than its window.
const minSamples = 1600

// recognizer is one loaded sherpa-onnx recogniser. The cgo build provides
// the real one; tests of the pool and of Transcribe's plumbing use fakes.
// A recognizer is used by one goroutine at a time.
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
	cfg  Config
	pool *pool
}

var _ asr.Engine = (*Engine)(nil)

// newEngine builds an Engine around a recogniser constructor. It checks the
// voice-activity configuration and loads the first recogniser, so that a
// configuration that cannot work fails here rather than at the first
// voicemail.
func newEngine(cfg Config, newRecognizer func() (recognizer, error)) (*Engine, error) {
	det, err := vad.New(cfg.vadConfig(8000))
	if err != nil {
		return nil, fmt.Errorf("sherpa: %w", err)
	}
	det.Close()
	e := &Engine{cfg: cfg, pool: newPool(cfg.MaxConcurrent, newRecognizer)}
	r, err := e.pool.get(context.Background())
	if err != nil {
		return nil, err
	}
	e.pool.put(r)
	return e, nil
}

// Name returns "sherpa".
func (e *Engine) Name() string { return Name }

// Close frees the idle recognisers; recognisers in use are freed when
// their utterance is decoded. Transcribe fails with ErrClosed afterwards.
func (e *Engine) Close() error {
	e.pool.close()
	return nil
}

// Transcribe reads a.PCM (16-bit little-endian mono at 8 or 16 kHz) to its
// end, cuts it into utterances at pauses, upsamples 8 kHz audio to the
// 16 kHz the models are trained on and decodes each utterance whole. It
// holds one utterance of audio at a time, not the recording. ctx is checked
// between utterances: one utterance's decoding (at most MaxUtterance of
// audio) is not interrupted.
func (e *Engine) Transcribe(ctx context.Context, a asr.Audio, opts asr.Options) (*asr.Result, error) {
	if !e.cfg.speaks(opts.Language) {
		return nil, fmt.Errorf("sherpa: the model is %s; cannot transcribe %s: %w", e.cfg.Language, opts.Language, asr.ErrUnavailable)
	}
	if a.SampleRate != 8000 && a.SampleRate != 16000 {
		return nil, fmt.Errorf("sherpa: sample rate %d Hz not supported (8000 or 16000)", a.SampleRate)
	}
	if a.PCM == nil {
		return nil, errors.New("sherpa: no audio")
	}
	t := &transcription{e: e, ctx: ctx, res: &asr.Result{Engine: Name, Segments: []asr.Segment{}}}
	if a.SampleRate == 8000 {
		t.up = resample.NewUpsampler()
	}

	det, err := vad.New(e.cfg.vadConfig(a.SampleRate))
	if err != nil {
		return nil, fmt.Errorf("sherpa: %w", err)
	}
	defer det.Close()
	seg, err := vad.NewSegmenter(det, e.cfg.vadOptions())
	if err != nil {
		return nil, fmt.Errorf("sherpa: %w", err)
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
			return nil, fmt.Errorf("sherpa: reading audio: %w", rerr)
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
	// Speech the model found no words in (a cough, line noise) leaves
	// the voicemail as empty as no speech at all.
	r.Empty = speech.Empty || len(r.Segments) == 0
	return r, nil
}

// transcription is the state of one Transcribe call.
type transcription struct {
	e    *Engine
	ctx  context.Context
	up   *resample.Upsampler // nil for 16 kHz input
	wide []int16             // the utterance at 16 kHz, reused
	res  *asr.Result
}

// decode decodes one utterance into a segment. A recogniser is borrowed
// per utterance, so a silent recording never waits for one and a long one
// does not hold one between utterances.
func (t *transcription) decode(u vad.Utterance) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	pcm := u.Samples
	if t.up != nil {
		pcm = t.upsample(pcm)
	}
	if len(pcm) < minSamples {
		return nil
	}
	r, err := t.e.pool.get(t.ctx)
	if err != nil {
		return err
	}
	out := r.recognize(pcm)
	t.e.pool.put(r)
	text := tidy(out.Text)
	if text == "" {
		return nil // noise the detector took for speech
	}
	// Segment times are the utterance's: the offline recognisers give
	// no reliable word times for every family.
	t.res.Segments = append(t.res.Segments, asr.Segment{
		StartMS:    u.Span.StartMS,
		EndMS:      u.Span.EndMS,
		Text:       text,
		Confidence: out.Confidence,
	})
	return nil
}

// upsample converts one 8 kHz utterance to 16 kHz, delay-compensated so
// that times still line up with the 8 kHz stream. Each utterance starts the
// filter from silence: utterances begin and end in a pause, so nothing
// audible is lost.
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
