package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
)

func TestRecordings(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, dsnOf(t), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			at := time.Date(2026, 3, 1, 9, 30, 15, 0, time.UTC)
			rec := &store.Recording{ContactID: "c1", CustomerNumber: "+15555550123", CallTime: at, StreamARN: "arn:x",
				State: store.RecordingActive, Owner: "a", HeartbeatAt: at, Details: `{"n":1}`, CreatedAt: at, UpdatedAt: at}
			if ok, err := s.InsertRecording(ctx, rec); !ok || err != nil {
				t.Fatalf("insert: %v %v", ok, err)
			}
			if ok, err := s.InsertRecording(ctx, &store.Recording{ContactID: "c1", StreamARN: "arn:y", State: "x", CallTime: at}); ok || err != nil {
				t.Fatalf("second insert: %v %v", ok, err)
			}
			got, err := s.GetRecording(ctx, "c1")
			if err != nil || !reflect.DeepEqual(got, rec) {
				t.Fatalf("get: %+v %v, want %+v", got, err, rec)
			}
			if _, err := s.GetRecording(ctx, "c2"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("get missing: %v", err)
			}

			// The owner saves; a stop request reaches it; another replica
			// cannot save.
			rec.Details, rec.HeartbeatAt = `{"n":2}`, at.Add(time.Second)
			if stop, err := s.SaveRecording(ctx, rec); stop || err != nil {
				t.Fatalf("save: %v %v", stop, err)
			}
			if err := s.RequestRecordingStop(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
			if stop, err := s.SaveRecording(ctx, rec); !stop || err != nil {
				t.Fatalf("save after stop request: %v %v", stop, err)
			}
			if err := s.RequestRecordingStop(ctx, "c2"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("stop missing: %v", err)
			}
			other := *rec
			other.Owner = "b"
			if _, err := s.SaveRecording(ctx, &other); !errors.Is(err, store.ErrNotOwner) {
				t.Fatalf("save by another: %v", err)
			}

			// Stale recordings are claimed once.
			if stale, err := s.StaleRecordings(ctx, at.Add(time.Second), 10); err != nil || len(stale) != 0 {
				t.Fatalf("stale before the heartbeat: %v %v", stale, err)
			}
			stale, err := s.StaleRecordings(ctx, at.Add(time.Minute), 10)
			if err != nil || len(stale) != 1 || stale[0].Details != `{"n":2}` || !stale[0].StopRequested {
				t.Fatalf("stale: %+v %v", stale, err)
			}
			now := at.Add(2 * time.Minute)
			if ok, err := s.ClaimRecording(ctx, "c1", "b", stale[0].HeartbeatAt, now); !ok || err != nil {
				t.Fatalf("claim: %v %v", ok, err)
			}
			if ok, err := s.ClaimRecording(ctx, "c1", "c", stale[0].HeartbeatAt, now); ok || err != nil {
				t.Fatalf("second claim: %v %v", ok, err)
			}
			if _, err := s.SaveRecording(ctx, rec); !errors.Is(err, store.ErrNotOwner) {
				t.Fatalf("save by the former owner: %v", err)
			}
			other.State = "completed"
			if _, err := s.SaveRecording(ctx, &other); err != nil {
				t.Fatal(err)
			}
			if stale, err := s.StaleRecordings(ctx, now.Add(time.Hour), 10); err != nil || len(stale) != 0 {
				t.Fatalf("stale after completion: %v %v", stale, err)
			}

			// Segments: a final segment replaces the partials before its end.
			for _, g := range []store.RecordingSegment{
				{Track: "to", StartMS: 0, EndMS: 2000, Text: "hello", Confidence: 0.9},
				{Track: "from", StartMS: 3000, EndMS: 5000, Text: "i would", Confidence: -1, Partial: true},
				{Track: "from", StartMS: 3000, EndMS: 8000, Text: "i would like to", Confidence: -1, Partial: true},
				{Track: "to", StartMS: 9000, EndMS: 9500, Text: "mm", Confidence: -1, Partial: true},
			} {
				g.ContactID = "c1"
				if err := s.PutRecordingSegment(ctx, g); err != nil {
					t.Fatal(err)
				}
			}
			segs, err := s.RecordingSegments(ctx, "c1")
			if err != nil || len(segs) != 3 || segs[1].Text != "i would like to" || !segs[1].Partial {
				t.Fatalf("segments with partials: %+v %v", segs, err)
			}
			if err := s.PutRecordingSegment(ctx, store.RecordingSegment{ContactID: "c1", Track: "from", StartMS: 2900, EndMS: 9000, Text: "i would like to pay", Confidence: 0.5}); err != nil {
				t.Fatal(err)
			}
			segs, err = s.RecordingSegments(ctx, "c1")
			want := []store.RecordingSegment{
				{ContactID: "c1", Track: "to", StartMS: 0, EndMS: 2000, Text: "hello", Confidence: 0.9},
				{ContactID: "c1", Track: "from", StartMS: 2900, EndMS: 9000, Text: "i would like to pay", Confidence: 0.5},
				{ContactID: "c1", Track: "to", StartMS: 9000, EndMS: 9500, Text: "mm", Confidence: -1, Partial: true},
			}
			if err != nil || !reflect.DeepEqual(segs, want) {
				t.Fatalf("segments: %+v %v\nwant %+v", segs, err, want)
			}
		})
	}
}
