//go:build !(cgo && pocketsphinx)

package pocketsphinx

import (
	"errors"
	"strings"
	"testing"

	"github.com/vmx-dev/vmx/internal/asr"
)

func TestNewUnavailable(t *testing.T) {
	e, err := New(Config{})
	if e != nil || !errors.Is(err, asr.ErrUnavailable) {
		t.Fatalf("New = %v, %v; want an error wrapping asr.ErrUnavailable", e, err)
	}
	// One line that tells the operator what to do instead.
	if msg := err.Error(); !strings.HasPrefix(msg, unavailable) || strings.Contains(msg, "\n") ||
		!strings.Contains(msg, "use transcriber aws or none") {
		t.Errorf("error %q", msg)
	}
}
