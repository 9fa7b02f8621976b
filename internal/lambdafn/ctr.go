package lambdafn

import (
	"bytes"
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vmx-dev/vmx/internal/ctr"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/server"
)

// CTR is the ctr function: an event source mapping on Connect's contact
// record stream invokes it with batches of Kinesis records.
type CTR struct {
	Pipeline *pipeline.Pipeline
	// Intake says how records are read: attribute prefixes, defaults.
	Intake ctr.Config
	Logger *slog.Logger
}

// Handle takes each record's contact records exactly as POST /v1/ctr
// does. A record that is not a voicemail, holds no readable contact
// record, or is an invalid voicemail (stored as failed) is done with:
// retrying it cannot change its outcome. A record that could not be stored
// is reported in BatchItemFailures, and so is every record after it.
//
// A batch comes from one shard, and Lambda resumes a shard at the lowest
// sequence number reported, retrying everything after it: the records
// after a failure would come again whatever their outcome, so they are
// left for that retry rather than taken out of order, while the store that
// failed is likely still failing.
func (h *CTR) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	log := logger(h.Logger)
	var resp events.KinesisEventResponse
	failed := false
	for _, r := range ev.Records {
		seq := r.Kinesis.SequenceNumber
		if !failed {
			if err := h.take(ctx, log, r.Kinesis.Data); err != nil {
				log.Error("contact record not stored; the batch is retried from it",
					"event_id", r.EventID, "sequence", seq, "err", err)
				failed = true
			}
		}
		if failed {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: seq})
		}
	}
	return resp, nil
}

// take stores the voicemails of one record's data; an error means a
// retry may succeed.
func (h *CTR) take(ctx context.Context, log *slog.Logger, data []byte) error {
	sum, err := server.Intake(ctx, h.Pipeline, h.Intake, bytes.NewReader(data))
	if errors.Is(err, server.ErrUnreadable) {
		log.Warn("unreadable Kinesis record skipped", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	for _, res := range sum.Results {
		// The pipeline logs what it stores; these it never sees.
		if res.Outcome == "error" || (res.Outcome == "invalid" && res.ContactID == "") {
			log.Warn("contact record skipped", "contact_id", res.ContactID, "position", res.Position, "reason", res.Reason)
		}
	}
	return nil
}
