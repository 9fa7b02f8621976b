//go:build cgo && sherpa && linux

package vad

import (
	"fmt"
	"runtime"

	sherpa "github.com/k2-fsa/sherpa-onnx-go-linux"
)

// sherpa-onnx v1.13.8 runs Silero at 16 kHz only, on windows of 512 samples
// (32 ms); a v5 model also reads the next 64 samples as context.
const (
	sileroRate       = 16000
	sileroShift      = 512
	sileroContext    = 64
	sileroMinSpeech  = 0.05 // s of speech probability before a span starts
	sileroMinSilence = 0.1  // s of silence that ends a span
	// sherpa-onnx copies the whole open segment after every window, so a
	// long stretch of speech costs quadratic time and linear memory unless
	// the segment is closed now and then; the detector does so every
	// sileroFlushEvery samples of continuous speech, invisibly to its spans.
	sileroFlushEvery = 2 * sileroRate
)

// Silero runs the Silero VAD neural model through sherpa-onnx (cgo). 8 kHz
// input is upsampled to the model's 16 kHz inside the detector.
//
// A Silero holds an onnxruntime session (a few MB, tens of milliseconds to
// create): Reset and reuse one per worker rather than creating one per
// message, and Close it when done.
type Silero struct {
	v       *sherpa.VoiceActivityDetector
	cleanup runtime.Cleanup
	rate    int
	v5      bool
	up      *upsampler // 8 kHz input only
	delayMS int64      // the upsampler's lag

	win  []float32 // the window being filled, at 16 kHz
	nwin int

	fed     int64 // samples given to sherpa-onnx, 16 kHz
	samples int64 // samples received, at rate
	speech  bool
	start   int64 // start of the open span, 16 kHz samples
	lastEnd int64 // end of the last span
	flushAt int64 // position of the last forced flush

	minSpeech, minSilence int64 // 16 kHz samples
}

// NewSilero loads the model cfg names for audio at rate (8000 or 16000)
// samples per second. An error wraps [ErrUnavailable] when the model is
// missing or is not a Silero VAD model sherpa-onnx can run.
func NewSilero(rate int, cfg SileroConfig) (*Silero, error) {
	cfg, err := cfg.resolve(rate)
	if err != nil {
		return nil, err
	}
	v5, err := checkSileroModel(cfg.Model)
	if err != nil {
		return nil, err
	}
	c := &sherpa.VadModelConfig{
		SampleRate: sileroRate,
		NumThreads: cfg.Threads,
		Provider:   "cpu",
	}
	c.SileroVad.Model = cfg.Model
	c.SileroVad.Threshold = float32(cfg.Threshold)
	c.SileroVad.MinSilenceDuration = sileroMinSilence
	c.SileroVad.MinSpeechDuration = sileroMinSpeech
	c.SileroVad.WindowSize = sileroShift
	c.SileroVad.MaxSpeechDuration = 60 // never reached: see sileroFlushEvery
	v := sherpa.NewVoiceActivityDetector(c, 10)
	if v == nil {
		return nil, fmt.Errorf("%w: silero: sherpa-onnx refused model %s", ErrUnavailable, cfg.Model)
	}
	s := &Silero{
		v:          v,
		rate:       rate,
		v5:         v5,
		win:        make([]float32, sileroShift),
		minSpeech:  int64(sileroMinSpeech * sileroRate),
		minSilence: int64(sileroMinSilence * sileroRate),
	}
	if rate != sileroRate {
		s.up = newUpsampler()
		s.delayMS = upTaps * 1000 / int64(rate)
	}
	s.cleanup = runtime.AddCleanup(s, func(v *sherpa.VoiceActivityDetector) { sherpa.DeleteVoiceActivityDetector(v) }, v)
	return s, nil
}

// SampleRate implements Detector.
func (s *Silero) SampleRate() int { return s.rate }

// String names the detector.
func (s *Silero) String() string { return EngineSilero }

// Close implements Detector.
func (s *Silero) Close() error {
	if s.v != nil {
		s.cleanup.Stop()
		sherpa.DeleteVoiceActivityDetector(s.v)
		s.v = nil
	}
	return nil
}

// Reset implements Detector.
func (s *Silero) Reset() {
	s.v.Reset()
	if s.up != nil {
		s.up.reset()
	}
	s.nwin, s.fed, s.samples = 0, 0, 0
	s.speech, s.start, s.lastEnd, s.flushAt = false, 0, 0, 0
}

// Detect implements Detector.
func (s *Silero) Detect(dst []Span, pcm []int16) []Span {
	s.samples += int64(len(pcm))
	for len(pcm) > 0 {
		var k int
		if s.up != nil {
			k = min(len(pcm), (sileroShift-s.nwin)/2)
			s.nwin += s.up.process(s.win[s.nwin:], pcm[:k])
		} else {
			k = min(len(pcm), sileroShift-s.nwin)
			for i, x := range pcm[:k] {
				s.win[s.nwin+i] = float32(x) / 32768
			}
			s.nwin += k
		}
		pcm = pcm[k:]
		if s.nwin == sileroShift {
			dst = s.step(dst)
		}
	}
	return dst
}

// Flush implements Detector.
func (s *Silero) Flush(dst []Span) []Span {
	if s.nwin > 0 {
		clear(s.win[s.nwin:])
		dst = s.step(dst)
	}
	if s.speech {
		end := min(s.tail(), s.samples*sileroRate/int64(s.rate))
		dst = append(dst, s.span(s.start, end))
		s.speech = false
	}
	s.v.Flush()
	s.v.Clear()
	return dst
}

// tail is the number of samples sherpa-onnx has judged: a v5 model needs the
// 64 samples after a window, so the last window given waits for the next.
func (s *Silero) tail() int64 {
	if !s.v5 {
		return s.fed
	}
	if s.fed < sileroShift+sileroContext {
		return 0
	}
	return (s.fed-sileroShift-sileroContext)/sileroShift*sileroShift + sileroShift
}

// step gives the full window to sherpa-onnx and follows its speech state,
// placing span edges as sherpa-onnx places its segments' (it reports speech
// min-speech after it starts and silence min-silence after speech ends).
func (s *Silero) step(dst []Span) []Span {
	s.v.AcceptWaveform(s.win)
	s.fed += sileroShift
	s.nwin = 0
	tail := s.tail()
	window := int64(sileroShift)
	if s.v5 {
		window += sileroContext
	}
	detected := s.v.IsSpeech()
	switch {
	case detected && !s.speech:
		s.speech = true
		s.start = max(tail-2*window-s.minSpeech, s.lastEnd, 0)
		s.flushAt = tail
	case !detected && s.speech:
		end := max(tail-s.minSilence, s.start)
		dst = append(dst, s.span(s.start, end))
		s.lastEnd, s.speech = end, false
	}
	if !s.v.IsEmpty() {
		s.v.Clear() // segments are not used: their samples are copies
	}
	if detected && tail-s.flushAt >= sileroFlushEvery {
		s.v.Flush()
		s.v.Clear()
		s.flushAt = tail
	}
	return dst
}

// span converts 16 kHz sample positions to milliseconds of the input.
func (s *Silero) span(start, end int64) Span {
	return Span{
		StartMS: max(0, start*1000/sileroRate-s.delayMS),
		EndMS:   max(0, end*1000/sileroRate-s.delayMS),
	}
}

var _ Detector = (*Silero)(nil)
