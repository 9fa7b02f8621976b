package utterance

import (
	"fmt"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// Defaults and bounds of Options.
const (
	// DefaultPause is the default silence that ends an utterance.
	DefaultPause = 400 * time.Millisecond
	// DefaultMaxUtterance is the default longest utterance.
	DefaultMaxUtterance = 30 * time.Second
	// LongestMaxUtterance is the largest MaxUtterance Validate accepts;
	// an engine whose model decodes less at once checks its own,
	// tighter bound below it.
	LongestMaxUtterance = 5 * time.Minute
)

// Options say how a recording is cut into utterances. Engines keep these
// settings as fields of their own Config, under the same names, and
// convert.
type Options struct {
	// Pause is the silence that ends an utterance. Default 400 ms, at
	// least 100 ms.
	Pause time.Duration
	// MaxUtterance cuts utterances that run longer without a pause, so
	// that one utterance's audio bounds memory. Default 30 s, between 2 s
	// and 5 m.
	MaxUtterance time.Duration
	// VAD chooses the voice-activity detector that finds the utterances;
	// its SampleRate is set per recording.
	VAD vad.Config
}

// WithDefaults returns o with every unset field at its default.
func (o Options) WithDefaults() Options {
	if o.Pause == 0 {
		o.Pause = DefaultPause
	}
	if o.MaxUtterance == 0 {
		o.MaxUtterance = DefaultMaxUtterance
	}
	return o
}

// Validate returns the problems of defaulted Options, each prefixed by its
// configuration key, for the engine to join with its own.
func (o Options) Validate() []error {
	var errs []error
	if o.Pause < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("pause: %s must be at least 100ms", o.Pause))
	}
	if o.MaxUtterance < 2*time.Second || o.MaxUtterance > LongestMaxUtterance {
		errs = append(errs, fmt.Errorf("max_utterance: %s must be between 2s and 5m", o.MaxUtterance))
	}
	return errs
}

// CheckVAD builds and closes a detector, so that a voice-activity
// configuration that cannot work (Silero required but not in this build)
// fails when the engine is built.
func (o Options) CheckVAD() error {
	det, err := vad.New(o.vadConfig(8000))
	if err != nil {
		return err
	}
	det.Close()
	return nil
}

// vadConfig is the detector configuration for audio at rate.
func (o Options) vadConfig(rate int) vad.Config {
	v := o.VAD
	v.SampleRate = rate
	return v
}

// vadOptions cut utterances at pauses of o.Pause, at most MaxUtterance long.
func (o Options) vadOptions() vad.Options {
	return vad.Options{
		SplitPause:   o.Pause,
		MinSilence:   min(o.Pause, 300*time.Millisecond),
		MaxUtterance: o.MaxUtterance,
	}
}

// Primary returns the lower-case primary subtag of a language tag: "en"
// for en-US, en_GB or EN.
func Primary(tag string) string {
	tag, _, _ = strings.Cut(strings.ReplaceAll(tag, "_", "-"), "-")
	return strings.ToLower(tag)
}

// Speaks reports whether a model of language model can transcribe audio
// tagged tag: any tag of the model's primary language can (en-GB audio
// with an en-US model), and so can an empty tag. Engines refuse the
// others rather than produce nonsense in the model's language.
func Speaks(model, tag string) bool {
	return tag == "" || Primary(tag) == Primary(model)
}
