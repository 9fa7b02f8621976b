package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// A database made before the details column keeps its voicemails and gains
// the column when opened; opening again changes nothing.
func TestUpgradeKeepsVoicemails(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn := dsnOf(t)
			s, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			// Back to the first schema: no details column, version 0.
			db := s.SQL()
			for _, q := range []string{`ALTER TABLE vmx_voicemail DROP COLUMN details`, `UPDATE vmx_schema SET version = 0`} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
			rec := &voicemail.Record{Request: voicemail.Request{ContactID: "c1", Caller: "+15555550100", CallTime: at},
				Status: voicemail.StatusQueued, Run: 1, Steps: map[string]time.Time{}, CreatedAt: at}
			if err := s.InTx(ctx, func(tx *store.Tx) error { _, err := tx.InsertVoicemail(ctx, rec); return err }); err != nil {
				t.Fatal(err)
			}
			s.Close()

			for range 2 {
				s, err = store.Open(ctx, dsn, store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Get(ctx, "c1")
				if err != nil {
					t.Fatal(err)
				}
				if got.Caller != "+15555550100" {
					t.Fatalf("voicemail after upgrade: %+v", got)
				}
				got.Summary, got.Warnings = "call back", []string{"agent not found"}
				got.Route = voicemail.Route{QueueName: "Sales"}
				if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.Update(ctx, got, at) }); err != nil {
					t.Fatal(err)
				}
				again, err := s.Get(ctx, "c1")
				if err != nil {
					t.Fatal(err)
				}
				if again.Summary != "call back" || again.Route.QueueName != "Sales" || len(again.Warnings) != 1 {
					t.Fatalf("details not kept: %+v", again)
				}
				s.Close()
			}
		})
	}
}
