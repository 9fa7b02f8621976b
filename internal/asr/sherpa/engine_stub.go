//go:build !(sherpa && cgo && linux)

package sherpa

import (
	"fmt"

	"github.com/vmx-dev/vmx/internal/asr"
)

// unavailable says why New fails in this build. The engine sits behind a
// build tag so that `go build ./...` works without cgo and off Linux.
const unavailable = "sherpa: engine not in this build: build with -tags sherpa and cgo on linux"

// New reports that this build has no sherpa-onnx engine, and how to get
// one. The error wraps asr.ErrUnavailable.
func New(Config) (*Engine, error) {
	return nil, fmt.Errorf("%s: %w", unavailable, asr.ErrUnavailable)
}
