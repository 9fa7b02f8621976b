package recording

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
)

// Start selector types, as Config.StartSelector and a request's
// start_selector name them.
const (
	// StartFragmentNumber reads from the fragment where Connect's "Start
	// media streaming" block began the audio (StartFragmentNumber), that
	// fragment included.
	StartFragmentNumber = "FRAGMENT_NUMBER"
	// StartNow reads from the newest fragment on: the audio from when the
	// recording is started (e.g. once the agent is connected).
	StartNow = "NOW"
)

// Defaults of Config.
const (
	DefaultKeyPrefix          = "call-recordings/"
	DefaultMaxDuration        = 2 * time.Hour
	DefaultMaxConcurrent      = 50
	DefaultLanguage           = "en-US"
	DefaultCheckpointInterval = 5 * time.Second
	DefaultLambdaMargin       = 20 * time.Second
	DefaultStartFragmentDelay = 2 * time.Second
)

// Config is how vmx records calls. Every field is optional.
type Config struct {
	// KeyPrefix starts the blob keys of the recordings:
	// <KeyPrefix><contactId>_<UTC yyyymmddThhmmssZ>_AUDIO_FROM_CUSTOMER.wav
	// (and _AUDIO_TO_CUSTOMER, _STEREO). A plain prefix ("IVR_") works as
	// well as a folder ("calls/"). Default "call-recordings/".
	KeyPrefix string
	// StartSelector is StartFragmentNumber (the default) or StartNow, for
	// requests that do not choose: Lambda events always use it.
	StartSelector string
	// MaxDuration ends a recording this long after it started, whatever
	// the stream does. Default 2 h.
	MaxDuration time.Duration
	// MaxConcurrent bounds the recordings this process runs at once; one
	// more is refused (HTTP 503). Default 50.
	MaxConcurrent int
	// TempDir holds each running recording's raw PCM until it is stored,
	// and with it what a restarted vmx needs to resume the recording.
	// Default <os.TempDir()>/vmx-recordings; vmx serve should use a
	// directory under its data_dir that survives restarts.
	TempDir string
	// Language is the transcription language when a request names none.
	// Default "en-US".
	Language string
	// SavePartialTranscripts also stores the transcript of speech the end
	// of the recording cut off; without it only complete utterances are
	// stored.
	SavePartialTranscripts bool
	// CheckpointInterval is how often a running recording saves its
	// progress and heartbeat and looks for a stop requested through
	// another replica. Default 5 s.
	CheckpointInterval time.Duration
	// ResumeAfter is how long a recording's heartbeat may be silent before
	// Run takes it over (its replica died) and resumes it from its
	// checkpoint. Default 6 × CheckpointInterval.
	ResumeAfter time.Duration
	// AbandonAfter fails a recording that no replica resumed this long
	// after its last heartbeat (its partial audio was on a machine that
	// is gone). Default MaxDuration.
	AbandonAfter time.Duration
	// LambdaMargin is the time a Lambda invocation keeps after the read
	// to store the files before its deadline. Default 20 s.
	LambdaMargin time.Duration
	// StartFragmentDelay is how long a FRAGMENT_NUMBER recording waits
	// before it reads: Connect hands out StartFragmentNumber while that
	// fragment is still being written, and KVS serves a fragment by
	// number only once it is complete; read at once, the first second
	// of the call would be lost. The wait loses nothing: the read then
	// catches up from KVS's archive. Default 2 s; negative for none.
	StartFragmentDelay time.Duration
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.KeyPrefix != "" && !blob.ValidKey(c.KeyPrefix+"x.wav") {
		errs = append(errs, fmt.Errorf("recording: key_prefix %q does not make valid blob keys (slash-separated, no empty, \".\" or \"..\" elements, none starting with a dot)", c.KeyPrefix))
	}
	switch c.StartSelector {
	case "", StartFragmentNumber, StartNow:
	default:
		errs = append(errs, fmt.Errorf("recording: start_selector %q must be %s or %s", c.StartSelector, StartFragmentNumber, StartNow))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"max_duration", c.MaxDuration}, {"checkpoint_interval", c.CheckpointInterval}, {"resume_after", c.ResumeAfter},
		{"abandon_after", c.AbandonAfter}, {"lambda_margin", c.LambdaMargin},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("recording: %s %s must not be negative", d.name, d.v))
		}
	}
	if c.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("recording: max_concurrent %d must not be negative", c.MaxConcurrent))
	}
	if c.Language != "" && !validLanguage(c.Language) {
		errs = append(errs, fmt.Errorf("recording: language %q is not a language code such as en-US", c.Language))
	}
	if c.TempDir != "" && !filepath.IsAbs(c.TempDir) {
		errs = append(errs, fmt.Errorf("recording: temp_dir %q must be an absolute path", c.TempDir))
	}
	cp := c.withDefaults()
	if cp.ResumeAfter <= 2*cp.CheckpointInterval {
		errs = append(errs, fmt.Errorf("recording: resume_after %s must be more than twice checkpoint_interval %s, or live recordings are taken for dead", cp.ResumeAfter, cp.CheckpointInterval))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.StartSelector == "" {
		c.StartSelector = StartFragmentNumber
	}
	if c.MaxDuration == 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.TempDir == "" {
		c.TempDir = filepath.Join(os.TempDir(), "vmx-recordings")
	}
	if c.Language == "" {
		c.Language = DefaultLanguage
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.ResumeAfter == 0 {
		c.ResumeAfter = 6 * c.CheckpointInterval
	}
	if c.AbandonAfter == 0 {
		c.AbandonAfter = c.MaxDuration
	}
	if c.LambdaMargin == 0 {
		c.LambdaMargin = DefaultLambdaMargin
	}
	if c.StartFragmentDelay == 0 {
		c.StartFragmentDelay = DefaultStartFragmentDelay
	}
	return c
}
