package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// A database made by the first schema keeps its voicemails and gains every
// later change when opened, each applied once; opening again changes
// nothing.
func TestUpgradeKeepsVoicemails(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn := dsnOf(t)
			s, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ResetToVersion(ctx, 0); err != nil {
				t.Fatal(err)
			}
			db := s.SQL()
			if _, err := db.ExecContext(ctx, `SELECT details FROM vmx_voicemail`); err == nil {
				t.Fatal("the first schema has the details column")
			}
			at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
			req, err := json.Marshal(voicemail.Request{ContactID: "c1", Caller: "+15555550100", CallTime: at})
			if err != nil {
				t.Fatal(err)
			}
			// The row as vmx wrote it then, in the first schema's columns.
			insert := `INSERT INTO vmx_voicemail (contact_id, caller, status, run, request, call_time, created_at, updated_at)
				VALUES ($1, $2, $3, 1, $4, $5, $5, $5)`
			if strings.HasPrefix(dsn, "sqlite:") {
				insert = strings.NewReplacer("$1", "?1", "$2", "?2", "$3", "?3", "$4", "?4", "$5", "?5").Replace(insert)
			}
			if _, err := db.ExecContext(ctx, insert, "c1", "+15555550100", string(voicemail.StatusQueued), string(req), at.UnixMilli()); err != nil {
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
