package web

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Sink delivers voicemails into the inbox (delivery mode "inbox"): it
// marks them new there, where the agents of their queue see them arrive.
type Sink struct {
	store *store.Store
	now   func() time.Time
}

// NewSink returns the inbox sink of st.
func NewSink(st *store.Store) *Sink {
	return &Sink{store: st, now: time.Now}
}

// Deliver marks the voicemail new in the inbox. A repeated delivery (a
// retry, a replay) leaves a voicemail someone has handled as it is. The
// receipt's detail says which happened.
func (s *Sink) Deliver(ctx context.Context, d *voicemail.Delivery, key string) (string, error) {
	changed, err := s.store.MarkInboxNew(ctx, d.Record.ContactID, s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return "", retry.Permanent(fmt.Errorf("inbox: voicemail %s is not stored", d.Record.ContactID))
	}
	if err != nil {
		return "", fmt.Errorf("inbox: %w", err)
	}
	if !changed {
		return "already in the inbox", nil
	}
	return "new in the inbox", nil
}
