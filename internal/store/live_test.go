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
			s := openStore(t, dsn(t))
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

// TestLiveConversationReplicas walks a conversation through replicas
// sharing the database: one starts it and keeps its heartbeat, another asks
// it to stop, a replica taken for dead loses it to the one that takes it
// over, and only the holder's version of the row can be written.
func TestLiveConversationReplicas(t *testing.T) {
	for name, dsn := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, dsn(t))
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			a := &store.LiveConversation{GUID: "c1", Namespace: "amazonconnect", CustomerStreamID: "s1", AgentStreamID: "s2",
				State: store.LiveActive, Summary: "{}", StartedAt: t0, UpdatedAt: t0}
			if ok, err := s.InsertLiveConversation(ctx, a); err != nil || !ok {
				t.Fatalf("insert: %v %v", ok, err)
			}
			b := *a
			b.CustomerStreamID = "other"
			if ok, err := s.InsertLiveConversation(ctx, &b); err != nil || ok {
				t.Fatalf("second insert: %v %v", ok, err)
			}
			if got, err := s.LiveConversation(ctx, "c1"); err != nil || *got != *a {
				t.Fatalf("after inserts: %+v %v, want %+v", got, err, a)
			}

			// The holder's heartbeat moves the version on; one from an old
			// version changes nothing.
			t1 := t0.Add(2 * time.Second)
			if ok, err := s.BeatLiveConversation(ctx, "c1", t0, t1, `{"streamingMs":2000}`); err != nil || !ok {
				t.Fatalf("beat: %v %v", ok, err)
			}
			if ok, err := s.BeatLiveConversation(ctx, "c1", t0, t1.Add(time.Second), `{}`); err != nil || ok {
				t.Fatalf("beat from an old version: %v %v", ok, err)
			}
			if _, err := s.BeatLiveConversation(ctx, "c1", t1, t1, `{}`); err == nil {
				t.Error("a heartbeat that does not move the version on was taken")
			}
			got, _ := s.LiveConversation(ctx, "c1")
			if !got.UpdatedAt.Equal(t1) || got.Summary != `{"streamingMs":2000}` || got.State != store.LiveActive {
				t.Fatalf("after beats: %+v", got)
			}

			// A stop requested through another replica is listed for the
			// holder and leaves the version alone: the holder beats on.
			if gs, err := s.StoppingLiveConversations(ctx); err != nil || len(gs) != 0 {
				t.Fatalf("stopping before the request: %v %v", gs, err)
			}
			for range 2 {
				if ok, err := s.RequestLiveStop(ctx, "c1"); err != nil || !ok {
					t.Fatalf("request stop: %v %v", ok, err)
				}
			}
			if gs, err := s.StoppingLiveConversations(ctx); err != nil || fmt.Sprint(gs) != "[c1]" {
				t.Fatalf("stopping: %v %v", gs, err)
			}
			t2 := t1.Add(2 * time.Second)
			if ok, err := s.BeatLiveConversation(ctx, "c1", t1, t2, `{"streamingMs":4000}`); err != nil || !ok {
				t.Fatalf("beat while stopping: %v %v", ok, err)
			}

			// Its holder went quiet: two replicas take it over from the
			// version they read; one wins, and the old holder's heartbeat
			// finds it gone.
			seen, _ := s.LiveConversation(ctx, "c1")
			if seen.State != store.LiveStopping || !seen.UpdatedAt.Equal(t2) {
				t.Fatalf("before the takeover: %+v", seen)
			}
			take := *seen
			take.State, take.UpdatedAt = store.LiveActive, t2.Add(time.Minute)
			if ok, err := s.ReplaceLiveConversation(ctx, &take, seen.UpdatedAt); err != nil || !ok {
				t.Fatalf("takeover: %v %v", ok, err)
			}
			late := take
			late.CustomerStreamID, late.UpdatedAt = "late", t2.Add(2*time.Minute)
			if ok, err := s.ReplaceLiveConversation(ctx, &late, seen.UpdatedAt); err != nil || ok {
				t.Fatalf("second takeover: %v %v", ok, err)
			}
			if _, err := s.ReplaceLiveConversation(ctx, &take, take.UpdatedAt); err == nil {
				t.Error("a replacement that does not move the version on was taken")
			}
			if ok, err := s.BeatLiveConversation(ctx, "c1", t2, t2.Add(3*time.Minute), `{}`); err != nil || ok {
				t.Fatalf("heartbeat of the replica taken for dead: %v %v", ok, err)
			}
			if gs, err := s.StoppingLiveConversations(ctx); err != nil || len(gs) != 0 {
				t.Fatalf("stopping after the takeover: %v %v", gs, err)
			}

			// The new holder stops it; a stopped conversation takes neither
			// a heartbeat nor a stop request.
			done := take
			done.State, done.Summary, done.StoppedAt, done.UpdatedAt = store.LiveStopped, `{"streamingMs":9000}`, t2.Add(4*time.Minute), t2.Add(4*time.Minute)
			if ok, err := s.ReplaceLiveConversation(ctx, &done, take.UpdatedAt); err != nil || !ok {
				t.Fatalf("stop: %v %v", ok, err)
			}
			if got, err := s.LiveConversation(ctx, "c1"); err != nil || *got != done {
				t.Fatalf("stopped: %+v %v, want %+v", got, err, done)
			}
			if ok, err := s.BeatLiveConversation(ctx, "c1", done.UpdatedAt, done.UpdatedAt.Add(time.Second), `{}`); err != nil || ok {
				t.Fatalf("heartbeat of a stopped conversation: %v %v", ok, err)
			}
			for _, g := range []string{"c1", "nope"} {
				if ok, err := s.RequestLiveStop(ctx, g); err != nil || ok {
					t.Fatalf("stop request of %s: %v %v", g, ok, err)
				}
			}
		})
	}
}
