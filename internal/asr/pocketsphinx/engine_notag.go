//go:build cgo && !pocketsphinx

package pocketsphinx

// unavailable says why New fails in this build. The engine sits behind a
// build tag so that `go build ./...` works on machines without
// libpocketsphinx-dev.
const unavailable = "pocketsphinx: this vmx was built without the pocketsphinx build tag (go build -tags pocketsphinx, with libpocketsphinx-dev installed); use transcriber aws or none"
