//go:build !(cgo && sherpa && linux)

package vad

import "testing"

// TestSileroBuild fails in CI when Silero is required but this build lacks
// it, and otherwise records why Silero's tests do not run.
func TestSileroBuild(t *testing.T) {
	requireSilero(t, "built without Silero (needs linux, cgo and -tags sherpa)")
}
