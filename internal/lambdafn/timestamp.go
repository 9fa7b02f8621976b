package lambdafn

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TimestampAttribute is the attribute the timestamper returns, and the
// IVR-recording flow sets: where the voicemail starts in the recording.
const TimestampAttribute = "vmx3_timestamp"

// Timestamp is the timestamp function, Voicemail Express 3's timestamper:
// the IVR-recording contact flow invokes it as the caller starts speaking,
// and it answers with the time, UTC to the second, as VMX3's does.
func Timestamp(now func() time.Time) func(ctx context.Context, ev events.ConnectEvent) (map[string]string, error) {
	return func(context.Context, events.ConnectEvent) (map[string]string, error) {
		return map[string]string{TimestampAttribute: now().UTC().Format("2006-01-02T15:04:05Z")}, nil
	}
}
