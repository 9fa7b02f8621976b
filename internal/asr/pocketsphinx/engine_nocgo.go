//go:build !cgo

package pocketsphinx

// unavailable says why New fails in this build.
const unavailable = "pocketsphinx: this vmx was built without cgo (CGO_ENABLED=0); use transcriber aws or none"
