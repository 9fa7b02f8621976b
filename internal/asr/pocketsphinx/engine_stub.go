//go:build !(cgo && pocketsphinx)

package pocketsphinx

import (
	"fmt"

	"github.com/vmx-dev/vmx/internal/asr"
)

// New reports that this build has no PocketSphinx engine, and why. The
// error wraps asr.ErrUnavailable.
func New(Config) (*Engine, error) {
	return nil, fmt.Errorf("%s: %w", unavailable, asr.ErrUnavailable)
}
