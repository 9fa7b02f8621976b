// Package pocketsphinx is vmx's embedded speech-to-text engine: CMU
// PocketSphinx through cgo, decoding telephone voicemail on the machine
// that processes it, with no service to call.
//
// The engine needs cgo, the pocketsphinx build tag and Debian's
// libpocketsphinx-dev and pocketsphinx-en-us packages; in any other build
// New returns an error wrapping asr.ErrUnavailable that says why. Config and
// the pause splitter compile everywhere, so configuration can be checked by
// a vmx that cannot run the engine.
package pocketsphinx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vmx-dev/vmx/internal/asr/utterance"
	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// Engine names and model locations.
const (
	// Name is the engine's name in configuration and in asr.Result.Engine.
	Name = "pocketsphinx"
	// DefaultModelDir is where Debian's pocketsphinx-en-us installs the
	// US English model.
	DefaultModelDir = "/usr/share/pocketsphinx/model/en-us"
)

// Speed trades accuracy for decoding time.
type Speed string

const (
	// SpeedFast runs PocketSphinx's lexicon-tree pass and word-lattice
	// best path, skips the flat-lexicon second pass, caps the hypotheses
	// kept per frame and prunes word exits. It is the default: a
	// real-time factor of about 0.25 per core on telephone audio.
	SpeedFast Speed = "fast"
	// SpeedAccurate runs all three of PocketSphinx's passes with its
	// default beams.
	SpeedAccurate Speed = "accurate"
	// SpeedFastest is SpeedFast with a tighter cap on the hypotheses kept
	// per frame and the default word-exit beam: at most a tenth faster.
	// Without the telephone channel transform it lost 6 points on human
	// telephone speech; with it, one run scored as fast does on both sets
	// (28.9 % / 36.8 %).
	SpeedFastest Speed = "fastest"
)

// Config configures the engine. Every field is optional; the zero Config
// decodes with Debian's US English model.
type Config struct {
	// ModelDir holds the model; the three paths below default to files
	// in it. Default DefaultModelDir.
	ModelDir string
	// HMM is the acoustic model directory. Default ModelDir/en-us.
	HMM string
	// Dict is the pronunciation dictionary. Default
	// ModelDir/cmudict-en-us.dict.
	Dict string
	// LM is the general language model. Default ModelDir/en-us.lm.bin.
	LM string
	// DomainLM, when set, is an ARPA or binary (.lm.bin) language model
	// of voicemail phrases interpolated with LM: a domain model alone is
	// brittle on off-domain speech, mixed in it helps. Words it has that
	// Dict lacks are ignored.
	DomainLM string
	// DomainWeight is DomainLM's interpolation weight, between 0 and 1
	// exclusive; LM gets 1-DomainWeight. Default 0.5. PocketSphinx mixes
	// the two models' language-weighted scores (probabilities raised to
	// -lw, 6.5), not their probabilities, so the weight moves results far
	// less than in a linear mixture: from 1e-7 to 0.7 the human set scores
	// within 3 points, and even 1e-7 decodes differently from no DomainLM.
	DomainWeight float64
	// Language is the model's language as a BCP 47 tag. Transcribe
	// refuses Options.Language of another primary language, rather than
	// producing English-sounding nonsense. Default en-US.
	Language string
	// Speed is SpeedFast (default), SpeedAccurate or SpeedFastest.
	Speed Speed
	// MaxDecoders bounds the decoders kept, and so the transcriptions
	// run at once; each holds ≈ 150 MB and takes ≈ 0.6 s to load.
	// Default runtime.GOMAXPROCS(0): decoding is CPU-bound.
	MaxDecoders int
	// Pause is the silence that ends an utterance. Default 400 ms, at
	// least 100 ms.
	Pause time.Duration
	// MaxUtterance cuts utterances that run longer without a pause, so
	// that one utterance's audio bounds memory. Default 30 s; between 2 s
	// and 5 m.
	MaxUtterance time.Duration
	// VAD chooses the voice-activity detector that finds the utterances
	// (the energy detector unless Silero is configured); its SampleRate
	// is set per recording.
	VAD vad.Config
	// Verbose leaves PocketSphinx's own log on standard error. It is
	// off by default because PocketSphinx logs hundreds of lines per
	// decoder. The setting is process-wide: the C library has one log.
	Verbose bool
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.ModelDir == "" {
		c.ModelDir = DefaultModelDir
	}
	if c.HMM == "" {
		c.HMM = filepath.Join(c.ModelDir, "en-us")
	}
	if c.Dict == "" {
		c.Dict = filepath.Join(c.ModelDir, "cmudict-en-us.dict")
	}
	if c.LM == "" {
		c.LM = filepath.Join(c.ModelDir, "en-us.lm.bin")
	}
	if c.DomainWeight == 0 {
		c.DomainWeight = 0.5
	}
	if c.Language == "" {
		c.Language = "en-US"
	}
	if c.Speed == "" {
		c.Speed = SpeedFast
	}
	if c.MaxDecoders == 0 {
		c.MaxDecoders = runtime.GOMAXPROCS(0)
	}
	u := c.utterances().WithDefaults()
	c.Pause, c.MaxUtterance = u.Pause, u.MaxUtterance
	return c
}

// Validate checks a defaulted Config: the rules, and that the model files
// exist, since PocketSphinx reports a missing file only in its own log.
func (c Config) Validate() error {
	var errs []error
	check := func(field, path string, dir bool) {
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		case dir && !fi.IsDir():
			errs = append(errs, fmt.Errorf("%s: %s is not a directory", field, path))
		case !dir && fi.IsDir():
			errs = append(errs, fmt.Errorf("%s: %s is a directory", field, path))
		}
	}
	check("hmm", c.HMM, true)
	check("dict", c.Dict, false)
	check("lm", c.LM, false)
	if c.DomainLM != "" {
		check("domain_lm", c.DomainLM, false)
	}
	if !(c.DomainWeight > 0 && c.DomainWeight < 1) {
		errs = append(errs, fmt.Errorf("domain_weight: %g must be between 0 and 1 exclusive", c.DomainWeight))
	}
	switch c.Speed {
	case SpeedFast, SpeedAccurate, SpeedFastest:
	default:
		errs = append(errs, fmt.Errorf("speed: %q must be %q, %q or %q", c.Speed, SpeedFast, SpeedAccurate, SpeedFastest))
	}
	if c.MaxDecoders < 1 {
		errs = append(errs, fmt.Errorf("max_decoders: %d must be at least 1", c.MaxDecoders))
	}
	errs = append(errs, c.utterances().Validate()...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pocketsphinx: %w", err)
	}
	return nil
}

// utterances is how recordings are cut into utterances.
func (c Config) utterances() utterance.Options {
	return utterance.Options{Pause: c.Pause, MaxUtterance: c.MaxUtterance, VAD: c.VAD}
}
