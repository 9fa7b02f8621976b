package pipeline

import (
	"context"
	"time"

	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Job is a step waiting to run on a voicemail: AudioArgs, TranscribeArgs,
// PackageArgs, DeliverArgs or FinalizeArgs. Its Kind and JSON form are a stored wire
// format.
type Job interface {
	Kind() string
	// Contact names the voicemail the job is for, and its run.
	Contact() (id string, run int)
}

// State keeps the voicemails and the steps waiting to run on them: the
// database and River under vmx serve (SQLState), DynamoDB and SQS on AWS
// Lambda. Steps tolerate repeats, so an implementation without
// transactions may enqueue a job again, but never lose one: it enqueues a
// change's jobs after the change is stored.
type State interface {
	// Get returns the voicemail, or an error wrapping store.ErrNotFound.
	Get(ctx context.Context, contactID string) (*voicemail.Record, error)
	// Insert stores a new voicemail and enqueues next. It reports false
	// when the contact is already stored; then it changes nothing, though
	// it may enqueue next again.
	Insert(ctx context.Context, rec *voicemail.Record, next ...Job) (bool, error)
	// Update reads the voicemail and lets change edit it; it stores the
	// voicemail when change says save, and enqueues next, as one change:
	// if another writer got there first, change runs again on the newer
	// voicemail. Receipts change only by being added.
	Update(ctx context.Context, contactID string, change func(rec *voicemail.Record) (save bool, next []Job, err error)) error
	// Delete removes the voicemail's record.
	Delete(ctx context.Context, contactID string) error
}

// expirer is a State that can list voicemails created before a time, for
// the retention sweep; DynamoDB expires items by itself.
type expirer interface {
	Expired(ctx context.Context, before time.Time, limit int) ([]*voicemail.Record, error)
}

// SQLState keeps voicemails in vmx's database and their steps in River,
// each change and its jobs in one transaction.
type SQLState struct {
	Store *store.Store
	Now   func() time.Time // default time.Now
}

var _ State = (*SQLState)(nil)

func (s *SQLState) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Get implements State.
func (s *SQLState) Get(ctx context.Context, contactID string) (*voicemail.Record, error) {
	return s.Store.Get(ctx, contactID)
}

// Insert implements State; a repeat enqueues nothing.
func (s *SQLState) Insert(ctx context.Context, rec *voicemail.Record, next ...Job) (bool, error) {
	var inserted bool
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if inserted, err = tx.InsertVoicemail(ctx, rec); err != nil || !inserted {
			return err
		}
		return enqueue(ctx, tx, next)
	})
	return inserted, err
}

// Update implements State; the row stays locked while change runs.
func (s *SQLState) Update(ctx context.Context, contactID string, change func(*voicemail.Record) (bool, []Job, error)) error {
	return s.Store.InTx(ctx, func(tx *store.Tx) error {
		rec, err := tx.Get(ctx, contactID)
		if err != nil {
			return err
		}
		had := len(rec.Receipts)
		save, next, err := change(rec)
		if err != nil {
			return err
		}
		if save {
			if err := tx.Update(ctx, rec, s.now()); err != nil {
				return err
			}
			for _, r := range rec.Receipts[had:] {
				if _, err := tx.AddReceipt(ctx, contactID, r); err != nil {
					return err
				}
			}
		}
		return enqueue(ctx, tx, next)
	})
}

// Delete implements State.
func (s *SQLState) Delete(ctx context.Context, contactID string) error {
	return s.Store.Delete(ctx, contactID)
}

// Expired lists voicemails created before before, for the retention sweep.
func (s *SQLState) Expired(ctx context.Context, before time.Time, limit int) ([]*voicemail.Record, error) {
	return s.Store.Expired(ctx, before, limit)
}

func enqueue(ctx context.Context, tx *store.Tx, jobs []Job) error {
	for _, j := range jobs {
		if _, err := tx.Enqueue(ctx, j, nil); err != nil {
			return err
		}
	}
	return nil
}
