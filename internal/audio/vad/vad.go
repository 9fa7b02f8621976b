package vad

import (
	"errors"
	"fmt"
	"log/slog"
)

// ErrUnavailable is wrapped by errors of detectors that cannot run in this
// build or on this machine: Silero in a build without cgo or without the
// "sherpa" tag, or with a missing or unusable model file.
var ErrUnavailable = errors.New("vad: detector unavailable")

// Span is a stretch of a stream, [StartMS, EndMS) in milliseconds from its
// first sample.
type Span struct {
	StartMS, EndMS int64
}

// DurationMS is the length of s.
func (s Span) DurationMS() int64 { return s.EndMS - s.StartMS }

// Samples converts s to sample offsets [start, end) at rate samples per
// second, for cutting the audio it covers.
func (s Span) Samples(rate int) (start, end int64) {
	return s.StartMS * int64(rate) / 1000, s.EndMS * int64(rate) / 1000
}

// Detector finds speech in one stream of 16-bit mono PCM at SampleRate.
//
// Detect and Flush append to dst, in order and without overlap, the raw
// speech spans that they complete, and return the extended slice: with
// enough capacity in dst they allocate nothing. Raw spans are fine grained
// (short pauses between words separate them); [Analyzer] joins, filters and
// pads them. A detector decides with some delay, so a span is reported after
// the audio that ends it.
//
// Implementations must not retain pcm or dst. A Detector is not safe for
// concurrent use.
type Detector interface {
	// Detect consumes pcm, the next samples of the stream, in chunks of any
	// length.
	Detect(dst []Span, pcm []int16) []Span
	// Flush ends the stream: it decides the samples still held and closes
	// an open span.
	Flush(dst []Span) []Span
	// Reset starts a new stream at 0 ms with the same configuration.
	Reset()
	// SampleRate is the rate of the samples Detect expects.
	SampleRate() int
	// Close releases the detector's resources. It is idempotent; a closed
	// detector must not be used.
	Close() error
}

// Engine names for Config.Engine.
const (
	EngineAuto   = "auto"
	EngineEnergy = "energy"
	EngineSilero = "silero"
)

// Config selects and configures a detector for [New]. Every field is
// optional.
type Config struct {
	// Engine is EngineAuto (the default: Silero when Silero.Model is set and
	// Silero can run, else Energy), EngineEnergy, or EngineSilero (Silero or
	// an error: no fallback).
	Engine string
	// SampleRate of the audio; 8000 (Amazon Connect) by default.
	SampleRate int
	Energy     EnergyConfig
	Silero     SileroConfig
	// Logger receives the reason for falling back to Energy; nil discards.
	Logger *slog.Logger
}

// New returns the detector cfg asks for. With EngineAuto it returns Silero
// when configured and available and otherwise Energy, logging the reason at
// warn level when Silero was configured but could not be used. Errors are
// configuration errors, or Silero's with EngineSilero.
func New(cfg Config) (Detector, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rate := cfg.SampleRate
	if rate == 0 {
		rate = 8000
	}
	switch cfg.Engine {
	case "", EngineAuto:
		if cfg.Silero.Model == "" {
			log.Debug("vad: energy detector (silero.model not set)")
			return NewEnergy(rate, cfg.Energy)
		}
		s, err := NewSilero(rate, cfg.Silero)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		log.Warn("vad: silero unavailable, using the energy detector", slog.Any("error", err))
		return NewEnergy(rate, cfg.Energy)
	case EngineEnergy:
		return NewEnergy(rate, cfg.Energy)
	case EngineSilero:
		return NewSilero(rate, cfg.Silero)
	default:
		return nil, fmt.Errorf("vad: engine: %q is not one of %q, %q, %q", cfg.Engine, EngineAuto, EngineEnergy, EngineSilero)
	}
}

// msOf converts a sample count at rate to milliseconds, rounding down.
func msOf(samples int64, rate int) int64 { return samples * 1000 / int64(rate) }
