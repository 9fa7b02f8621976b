//go:build !(cgo && sherpa && linux)

package vad

import "fmt"

// Silero would run the Silero VAD model; this build lacks it (it needs
// Linux, cgo and the build tag "sherpa"), so [NewSilero] always fails.
type Silero struct{}

// NewSilero checks cfg and reports that Silero is unavailable in this build,
// with an error wrapping [ErrUnavailable].
func NewSilero(rate int, cfg SileroConfig) (*Silero, error) {
	if _, err := cfg.resolve(rate); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: silero: this build lacks it (it needs linux, cgo and go build -tags sherpa)", ErrUnavailable)
}

// Detect implements Detector; it finds nothing.
func (s *Silero) Detect(dst []Span, pcm []int16) []Span { return dst }

// Flush implements Detector.
func (s *Silero) Flush(dst []Span) []Span { return dst }

// Reset implements Detector.
func (s *Silero) Reset() {}

// SampleRate implements Detector.
func (s *Silero) SampleRate() int { return 8000 }

// Close implements Detector.
func (s *Silero) Close() error { return nil }

// String names the detector.
func (s *Silero) String() string { return EngineSilero }

var _ Detector = (*Silero)(nil)
