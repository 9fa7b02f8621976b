package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Retention removes the recording, the transcript and the row of expired
// voicemails and keeps the rest.
func TestRetention(t *testing.T) {
	e := setup(t, storetest.SQLite(t), 3)
	ctx := context.Background()
	if _, err := e.p.Accept(ctx, e.request(""), ""); err != nil {
		t.Fatal(err)
	}
	rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusDelivered })
	transcript := blob.TranscriptKey(rec.CallTime, rec.ContactID)
	for _, k := range []string{rec.AudioKey, transcript} {
		if _, _, err := e.p.Blobs.Open(ctx, k); err != nil {
			t.Fatalf("%s missing before the sweep: %v", k, err)
		}
	}
	// A copy sweeps, so that the running workers' pipeline is not changed
	// under them.
	sweeper := *e.p
	sweeper.RetentionAge = 24 * time.Hour
	if err := sweeper.Retention(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Get(ctx, contact); err != nil {
		t.Fatalf("a fresh voicemail was swept: %v", err)
	}
	sweeper.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	if err := sweeper.Retention(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Get(ctx, contact); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired row kept: %v", err)
	}
	for _, k := range []string{rec.AudioKey, transcript} {
		if _, _, err := e.p.Blobs.Open(ctx, k); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("%s kept after the sweep: %v", k, err)
		}
	}
}
