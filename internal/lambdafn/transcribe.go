package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vmx-dev/vmx/internal/asr/awstranscribe"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// TranscribeDetailType is the detail-type of Amazon Transcribe's job
// state change events.
const TranscribeDetailType = "Transcribe Job State Change"

// TranscribeEvent is the transcribe-event function: an EventBridge rule
// invokes it when an Amazon Transcribe job ends.
type TranscribeEvent struct {
	State  pipeline.State
	Logger *slog.Logger
}

// transcribeDetail is the detail of a job state change event.
type transcribeDetail struct {
	TranscriptionJobName   string
	TranscriptionJobStatus string
}

// Handle enqueues the transcribe step of the voicemail whose job ended, so
// that its transcript is read now rather than when the step, which waited
// for the job and gave up, is retried. Jobs vmx did not start, and
// voicemails no longer waiting for their transcript, are left alone; the
// step tolerates a repeat.
func (h *TranscribeEvent) Handle(ctx context.Context, ev events.EventBridgeEvent) error {
	log := logger(h.Logger)
	if ev.DetailType != TranscribeDetailType {
		log.Warn("not a Transcribe job state change; ignored", "detail_type", ev.DetailType, "source", ev.Source)
		return nil
	}
	var d transcribeDetail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		log.Warn("Transcribe event detail unreadable; ignored", "event_id", ev.ID, "err", err)
		return nil
	}
	contactID, ok := awstranscribe.ContactIDFromJobName(d.TranscriptionJobName)
	if !ok {
		return nil // another application's job
	}
	log = log.With("contact_id", contactID)
	var run int
	err := h.State.Update(ctx, contactID, func(rec *voicemail.Record) (bool, []pipeline.Job, error) {
		if _, done := rec.Steps[voicemail.StepTranscribe]; done || rec.Status != voicemail.StatusQueued {
			run = 0
			return false, nil, nil
		}
		run = rec.Run
		return false, []pipeline.Job{pipeline.TranscribeArgs{ContactID: contactID, Run: rec.Run}}, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Info("Transcribe job of a deleted voicemail; ignored", "job", d.TranscriptionJobName)
		return nil
	case err != nil:
		// Lambda retries the asynchronous invocation.
		return fmt.Errorf("lambdafn: transcribe event %s: %w", d.TranscriptionJobName, err)
	case run > 0:
		log.Info("Transcribe job ended; transcribe step enqueued", "job", d.TranscriptionJobName, "status", d.TranscriptionJobStatus, "run", run)
	}
	return nil
}
