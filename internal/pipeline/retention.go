package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
)

// Retention deletes voicemails older than Deps.Retention: their recording,
// their transcript and their row, in that order, so that a sweep cut short
// leaves no row whose files are gone.
func (p *Pipeline) Retention(ctx context.Context) error {
	if p.RetentionAge <= 0 {
		return nil
	}
	before := p.Now().Add(-p.RetentionAge)
	deleted := 0
	for {
		batch, err := p.Store.Expired(ctx, before, 100)
		if err != nil {
			return err
		}
		for _, rec := range batch {
			for _, key := range []string{rec.AudioKey, blob.TranscriptKey(rec.CallTime, rec.ContactID)} {
				if key == "" {
					continue
				}
				if err := p.Blobs.Delete(ctx, key); err != nil {
					return fmt.Errorf("retention: %s: %w", rec.ContactID, err)
				}
			}
			if err := p.Store.Delete(ctx, rec.ContactID); err != nil {
				return err
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
