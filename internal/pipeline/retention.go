package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Delete removes a voicemail: its recording, its transcript and its row,
// in that order, so that a deletion cut short leaves no row whose files
// are gone.
func (p *Pipeline) Delete(ctx context.Context, contactID string) error {
	rec, err := p.State.Get(ctx, contactID)
	if err != nil {
		return fmt.Errorf("pipeline: delete %s: %w", contactID, err)
	}
	if err := p.remove(ctx, rec); err != nil {
		return fmt.Errorf("pipeline: delete: %w", err)
	}
	p.log(contactID).Info("voicemail deleted")
	return nil
}

func (p *Pipeline) remove(ctx context.Context, rec *voicemail.Record) error {
	for _, key := range []string{rec.AudioKey, blob.TranscriptKey(rec.CallTime, rec.ContactID)} {
		if key == "" {
			continue
		}
		if err := p.Blobs.Delete(ctx, key); err != nil {
			return fmt.Errorf("%s: %w", rec.ContactID, err)
		}
	}
	return p.State.Delete(ctx, rec.ContactID)
}

// Retention deletes voicemails older than Deps.Retention: their recording,
// their transcript and their row, in that order, so that a sweep cut short
// leaves no row whose files are gone. A State that cannot list expired
// voicemails expires them itself (DynamoDB's time to live).
func (p *Pipeline) Retention(ctx context.Context) error {
	exp, ok := p.State.(expirer)
	if p.RetentionAge <= 0 || !ok {
		return nil
	}
	before := p.Now().Add(-p.RetentionAge)
	deleted := 0
	for {
		batch, err := exp.Expired(ctx, before, 100)
		if err != nil {
			return err
		}
		for _, rec := range batch {
			if err := p.remove(ctx, rec); err != nil {
				return fmt.Errorf("retention: %w", err)
			}
			deleted++
		}
		if len(batch) < 100 {
			break
		}
	}
	if deleted > 0 {
		p.Logger.Info("retention sweep", "deleted", deleted, "before", before.Format(time.RFC3339))
	}
	return nil
}
