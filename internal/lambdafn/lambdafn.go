// Package lambdafn is vmx's AWS Lambda functions: thin adapters from Lambda
// events to the code vmx serve runs. Each handler is a method or function
// that lambda.NewHandler accepts; package cli builds them from the
// configuration.
//
//   - ctr: Kinesis Data Streams records of Connect's contact records, taken
//     as POST /v1/ctr takes them (server.Intake, pipeline.Accept).
//   - step: SQS messages, each one pipeline step (pipeline.Run).
//   - transcribe-event: Amazon Transcribe's job state changes on
//     EventBridge, which run a voicemail's transcribe step again at once.
//   - timestamp: the voicemail timestamper a contact flow invokes.
//   - media: net/http handlers (the media link endpoint) behind a Lambda
//     Function URL.
package lambdafn

import (
	"log/slog"
)

// logger is l, or one that discards.
func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
