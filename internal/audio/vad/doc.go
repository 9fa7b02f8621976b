// Package vad finds speech in telephone audio: voice-activity detection for
// vmx's voicemails (Amazon Connect's 8 kHz mono 16-bit PCM).
//
// A [Detector] turns a stream of samples into raw speech spans. Two
// implementations exist:
//
//   - [Energy], pure Go and always available: band energy over an adaptive
//     noise floor (minimum statistics with a short lookahead), hysteresis and
//     hangover, and a spectral-peak test that rejects steady tones such as the
//     1 kHz beep Amazon Connect plays before the caller speaks.
//   - [Silero], the Silero VAD neural model run by sherpa-onnx. It needs cgo
//     and the build tag "sherpa" (go build -tags sherpa) and the model file
//     (scripts/fetch-silero.sh in this directory fetches it); in other builds
//     [NewSilero] fails with an error wrapping [ErrUnavailable].
//
// [New] picks Silero when it is configured and available and otherwise falls
// back to Energy, logging why.
//
// An [Analyzer] runs a detector over a whole message streamed through it in
// constant memory (audio is never held; memory grows only with the number of
// spans found) and reports, in milliseconds from the start of the message:
// the speech spans with padding, the speech span of the whole message
// (leading and trailing silence trimmed), the message cut into utterances of
// bounded length at pauses, and whether the message is empty (the caller
// hung up without speaking).
//
// Detectors and analyzers are not safe for concurrent use: use one per
// stream, or Reset one between streams.
package vad
