//go:build !(sherpa && cgo && linux)

package sherpa

import (
	"errors"
	"strings"
	"testing"

	"github.com/vmx-dev/vmx/internal/asr"
)

func TestNewUnavailable(t *testing.T) {
	e, err := New(fixtures(t, Paraformer))
	if e != nil || !errors.Is(err, asr.ErrUnavailable) {
		t.Fatalf("New = %v, %v; want an error wrapping asr.ErrUnavailable", e, err)
	}
	// One line that tells the operator how to get the engine.
	if msg := err.Error(); !strings.HasPrefix(msg, unavailable) || strings.Contains(msg, "\n") ||
		!strings.Contains(msg, "-tags sherpa") {
		t.Errorf("error %q", msg)
	}
}
