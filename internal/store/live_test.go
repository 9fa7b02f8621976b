package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
)

func TestLiveConversations(t *testing.T) {
	for name, dsn := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, dsn(t), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.LiveConversation(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("missing conversation: %v", err)
			}
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			c := &store.LiveConversation{GUID: "c1", Namespace: "amazonconnect", CustomerID: "cu", AgentID: "ag",
				CustomerStreamID: "s1", AgentStreamID: "s2", Language: "en-US", StreamARN: "arn", Redact: true,
				State: store.LiveActive, StartedAt: t0, UpdatedAt: t0}
			if err := s.PutLiveConversation(ctx, c); err != nil {
				t.Fatal(err)
			}
			c.State, c.StoppedAt, c.Summary, c.Redact = store.LiveStopped, t0.Add(time.Minute), `{"streamingMs":60000}`, false
			if err := s.PutLiveConversation(ctx, c); err != nil {
				t.Fatal(err)
			}
			got, err := s.LiveConversation(ctx, "c1")
			if err != nil {
				t.Fatal(err)
			}
			if *got != *c {
				t.Errorf("got %+v, want %+v", got, c)
			}

			// Messages: in Seq order for the conversation, in creation
			// order (paged) for the export.
			for i := range 7 {
				m := &store.LiveMessage{GUID: "c1", Seq: int64(i + 1), StreamID: "s1", Role: "customer", ExternalID: "cu",
					StartMS: int64(i * 1000), EndMS: int64(i*1000 + 500), Text: fmt.Sprint("m", i), CreatedAt: t0.Add(time.Duration(i/2) * time.Second)}
				if err := s.AddLiveMessage(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.AddLiveMessage(ctx, &store.LiveMessage{GUID: "c1", Seq: 1, CreatedAt: t0}); err == nil {
				t.Error("a second message 1 was stored")
			}
			if n, err := s.LastLiveSeq(ctx, "c1"); err != nil || n != 7 {
				t.Errorf("last seq %d, %v", n, err)
			}
			ms, err := s.LiveMessages(ctx, "c1", 5)
			if err != nil || len(ms) != 5 || ms[0].Text != "m0" || ms[4].Seq != 5 || !ms[2].CreatedAt.Equal(t0.Add(time.Second)) {
				t.Fatalf("messages %+v, %v", ms, err)
			}
			var all []int64
			var after store.LiveCursor
			for {
				page, err := s.LiveMessagesBetween(ctx, t0, t0.Add(3*time.Second), after, 2)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range page {
					all = append(all, m.Seq)
				}
				if len(page) < 2 {
					break
				}
				l := page[len(page)-1]
				after = store.LiveCursor{CreatedAt: l.CreatedAt, GUID: l.GUID, Seq: l.Seq}
			}
			// Seq 7 was created at t0+3s, outside the interval.
			if fmt.Sprint(all) != "[1 2 3 4 5 6]" {
				t.Errorf("export pages gave %v", all)
			}
		})
	}
}
