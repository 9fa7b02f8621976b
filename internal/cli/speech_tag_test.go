//go:build cgo && pocketsphinx

package cli

// builtWithPocketSphinx says this test binary has the PocketSphinx engine.
const builtWithPocketSphinx = true
