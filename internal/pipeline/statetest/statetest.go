// Package statetest checks an implementation of pipeline.State against
// the contract written on the interface. Each implementation's tests call
// Run with a harness around a fresh, empty State.
package statetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Harness is a State under test.
type Harness struct {
	State pipeline.State
	// Jobs returns the jobs the State enqueued so far, oldest first. A
	// State may enqueue a job again (pipeline.State allows it), so Run
	// looks at the distinct jobs only.
	Jobs func(t *testing.T) []pipeline.Job
}

// Run runs the contract's tests, each on a State newState returns.
func Run(t *testing.T, newState func(t *testing.T) Harness) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, h Harness)
	}{
		{"InsertAndGet", testInsertAndGet},
		{"DuplicateInsert", testDuplicateInsert},
		{"UpdateSaves", testUpdateSaves},
		{"UpdateWithoutSave", testUpdateWithoutSave},
		{"ReceiptsOnlyAdded", testReceiptsOnlyAdded},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ChangeError", testChangeError},
		{"Missing", testMissing},
		{"Delete", testDelete},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newState(t)) })
	}
}

const contact = "0d3c8e52-9a4f-4b61-8c2e-7f5a1b0c9d42"

// created is a past time at millisecond precision, which every State
// keeps exactly.
var created = time.Date(2024, 3, 4, 5, 6, 7, 8e6, time.UTC)

// record is a new voicemail with every request field set.
func record(id string) *voicemail.Record {
	return &voicemail.Record{
		Request: voicemail.Request{
			ContactID: id, InstanceID: "5b9a2f4c-1d3e-4f6a-8b7c-9d0e1f2a3b4c", Prefix: "vmx3_",
			QueueARN: "arn:aws:connect:us-east-1:111122223333:instance/i-1/queue/q-1", AgentID: "agent-7",
			Target: "agent", Preferred: "jdoe", Caller: "+15555550100", Language: "en-US", Mode: "webhook,email",
			CallTime:   created.Add(-time.Minute),
			Attributes: map[string]string{"vmx3_flag": "1", "vmx3_lang": "en-US"},
			Audio: voicemail.AudioSource{Kind: voicemail.AudioKVS,
				StreamARN:     "arn:aws:kinesisvideo:us-east-1:111122223333:stream/vm/1",
				StartFragment: "91343852333181432392682062607743920146264447249",
				StartTime:     created.Add(-time.Minute), StopTime: created.Add(-30 * time.Second)},
		},
		Status:    voicemail.StatusQueued,
		Run:       1,
		Steps:     map[string]time.Time{},
		Receipts:  []voicemail.Receipt{},
		CreatedAt: created,
	}
}

func receipt(sink string, n int) voicemail.Receipt {
	return voicemail.Receipt{Sink: sink, Key: pipeline.DeliveryKey(contact, sink), Detail: fmt.Sprintf("%s-%d", sink, n),
		DeliveredAt: created.Add(time.Duration(n) * time.Second)}
}

func get(t *testing.T, h Harness, id string) *voicemail.Record {
	t.Helper()
	rec, err := h.State.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return rec
}

// same fails unless got and want have the same JSON form: every field a
// State keeps, times to the nanosecond.
func same(t *testing.T, what string, got, want *voicemail.Record) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// jobs fails unless the distinct jobs enqueued are want, in that order.
func jobs(t *testing.T, h Harness, want ...pipeline.Job) {
	t.Helper()
	var got []pipeline.Job
	for _, j := range h.Jobs(t) {
		if !slices.Contains(got, j) {
			got = append(got, j)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("jobs enqueued %v, want %v", got, want)
	}
}

func insert(t *testing.T, h Harness, rec *voicemail.Record, next ...pipeline.Job) {
	t.Helper()
	inserted, err := h.State.Insert(context.Background(), rec, next...)
	if err != nil || !inserted {
		t.Fatalf("insert %s: inserted %v, err %v", rec.ContactID, inserted, err)
	}
}

func testInsertAndGet(t *testing.T, h Harness) {
	insert(t, h, record(contact), pipeline.AudioArgs{ContactID: contact, Run: 1})
	want := record(contact)
	want.UpdatedAt = want.CreatedAt
	same(t, "stored voicemail", get(t, h, contact), want)
	jobs(t, h, pipeline.AudioArgs{ContactID: contact, Run: 1})

	other := record("c-2")
	other.Status, other.Error, other.FailedStep = voicemail.StatusFailed, "bad caller", "intake"
	insert(t, h, other)
	want = record("c-2")
	want.Status, want.Error, want.FailedStep, want.UpdatedAt = voicemail.StatusFailed, "bad caller", "intake", created
	same(t, "second voicemail", get(t, h, "c-2"), want)
	jobs(t, h, pipeline.AudioArgs{ContactID: contact, Run: 1})
}

func testDuplicateInsert(t *testing.T, h Harness) {
	ctx := context.Background()
	job := pipeline.AudioArgs{ContactID: contact, Run: 1}
	insert(t, h, record(contact), job)
	again := record(contact)
	again.Caller, again.Mode = "+15555550199", "email"
	inserted, err := h.State.Insert(ctx, again, job)
	if err != nil || inserted {
		t.Fatalf("second insert: inserted %v, err %v", inserted, err)
	}
	want := record(contact)
	want.UpdatedAt = created
	same(t, "voicemail after a repeated insert", get(t, h, contact), want)
	jobs(t, h, job)
}

// changed returns rec with every field a step changes set.
func changed(rec *voicemail.Record) {
	at := created.Add(time.Minute)
	rec.Steps[voicemail.StepAudio] = at
	rec.Steps[voicemail.StepTranscribe] = at.Add(time.Second)
	rec.Steps[voicemail.StepPackage] = at.Add(2 * time.Second)
	rec.StepErrors = map[string]voicemail.StepError{
		voicemail.StepPackage: {Error: "route: connect: throttled", Attempt: 1, At: at.Add(1500 * time.Millisecond)},
		"deliver:webhook":     {Error: "deliver webhook: 500", Attempt: 3, At: at.Add(3 * time.Second)},
	}
	rec.AudioKey = "recordings/2024/03/04/" + rec.ContactID + ".wav"
	rec.DurationMS, rec.AudioSHA = 6000, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	rec.Transcript, rec.Empty, rec.SpokenNumber, rec.Summary = "please call me back", false, "5551234", "Callback wanted."
	rec.SpeechStartMS, rec.SpeechEndMS = 120, 5800
	rec.Route = voicemail.Route{QueueARN: rec.QueueARN, QueueName: "Sales", AgentID: "agent-7", AgentUsername: "jdoe", AgentEmail: "jdoe@example.com"}
	rec.Warnings = []string{"summary slow"}
	rec.Run, rec.Status, rec.Error, rec.FailedStep = 2, voicemail.StatusFailed, "deliver webhook: 500", voicemail.StepDeliver
}

func testUpdateSaves(t *testing.T, h Harness) {
	ctx := context.Background()
	insert(t, h, record(contact), pipeline.AudioArgs{ContactID: contact, Run: 1})
	before := time.Now().Truncate(time.Millisecond)
	next := []pipeline.Job{pipeline.DeliverArgs{ContactID: contact, Run: 2, Sink: "webhook"}, pipeline.DeliverArgs{ContactID: contact, Run: 2, Sink: "email"}}
	err := h.State.Update(ctx, contact, func(rec *voicemail.Record) (bool, []pipeline.Job, error) {
		changed(rec)
		return true, next, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := get(t, h, contact)
	if got.UpdatedAt.Before(before) {
		t.Fatalf("updated at %v, before the update at %v", got.UpdatedAt, before)
	}
	want := record(contact)
	changed(want)
	want.UpdatedAt = got.UpdatedAt
	same(t, "updated voicemail", got, want)
	jobs(t, h, pipeline.AudioArgs{ContactID: contact, Run: 1}, next[0], next[1])
}

func testUpdateWithoutSave(t *testing.T, h Harness) {
	ctx := context.Background()
	insert(t, h, record(contact))
	next := pipeline.TranscribeArgs{ContactID: contact, Run: 1}
	err := h.State.Update(ctx, contact, func(rec *voicemail.Record) (bool, []pipeline.Job, error) {
		changed(rec)
		rec.Receipts = append(rec.Receipts, receipt("webhook", 1))
		return false, []pipeline.Job{next}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := record(contact)
	want.UpdatedAt = created
	same(t, "voicemail after an update that did not save", get(t, h, contact), want)
	jobs(t, h, next)
}

// A receipt, once stored, stays as it is: a change that edits it or adds
// another for the same sink does not replace it.
func testReceiptsOnlyAdded(t *testing.T, h Harness) {
	ctx := context.Background()
	insert(t, h, record(contact))
	add := func(edit func(rec *voicemail.Record)) {
		t.Helper()
		if err := h.State.Update(ctx, contact, func(rec *voicemail.Record) (bool, []pipeline.Job, error) {
			edit(rec)
			return true, nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	add(func(rec *voicemail.Record) { rec.Receipts = append(rec.Receipts, receipt("webhook", 1)) })
	add(func(rec *voicemail.Record) {
		rec.Receipts[0].Detail = "edited"
		rec.Receipts = append(rec.Receipts, receipt("webhook", 2), receipt("email", 3))
	})
	add(func(rec *voicemail.Record) { rec.Transcript = "later change" })
	got := get(t, h, contact)
	want := []voicemail.Receipt{receipt("webhook", 1), receipt("email", 3)}
	if !slices.Equal(got.Receipts, want) {
		t.Fatalf("receipts %+v, want %+v", got.Receipts, want)
	}
	if got.Transcript != "later change" {
		t.Fatalf("transcript %q", got.Transcript)
	}
}

// Writers updating one voicemail at once each see their change kept: a
// receipt per sink and a warning each.
func testConcurrentUpdates(t *testing.T, h Harness) {
	ctx := context.Background()
	insert(t, h, record(contact))
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			sink := fmt.Sprintf("sink-%d", i)
			errs <- h.State.Update(ctx, contact, func(rec *voicemail.Record) (bool, []pipeline.Job, error) {
				rec.Receipts = append(rec.Receipts, receipt(sink, i))
				rec.Warnings = append(rec.Warnings, sink)
				return true, []pipeline.Job{pipeline.DeliverArgs{ContactID: contact, Run: 1, Sink: sink}}, nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := get(t, h, contact)
	var wantReceipts []voicemail.Receipt
	var wantWarnings []string
	var wantJobs []pipeline.Job
	for i := range writers {
		sink := fmt.Sprintf("sink-%d", i)
		wantReceipts = append(wantReceipts, receipt(sink, i))
		wantWarnings = append(wantWarnings, sink)
		wantJobs = append(wantJobs, pipeline.DeliverArgs{ContactID: contact, Run: 1, Sink: sink})
	}
	slices.Sort(got.Warnings)
	if !slices.Equal(got.Receipts, wantReceipts) || !slices.Equal(got.Warnings, wantWarnings) {
		t.Fatalf("after %d concurrent updates: receipts %+v, warnings %q", writers, got.Receipts, got.Warnings)
	}
	var gotJobs []pipeline.Job
	for _, j := range h.Jobs(t) {
		if !slices.Contains(gotJobs, j) {
			gotJobs = append(gotJobs, j)
		}
	}
	for _, j := range wantJobs {
		if !slices.Contains(gotJobs, j) {
			t.Fatalf("jobs %v lack %v", gotJobs, j)
		}
	}
	if len(gotJobs) != writers {
		t.Fatalf("jobs %v, want %d", gotJobs, writers)
	}
}

func testChangeError(t *testing.T, h Harness) {
	insert(t, h, record(contact))
	boom := errors.New("boom")
	err := h.State.Update(context.Background(), contact, func(rec *voicemail.Record) (bool, []pipeline.Job, error) {
		changed(rec)
		rec.Receipts = append(rec.Receipts, receipt("webhook", 1))
		return true, []pipeline.Job{pipeline.FinalizeArgs{ContactID: contact, Run: 1}}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update error %v, want %v", err, boom)
	}
	want := record(contact)
	want.UpdatedAt = created
	same(t, "voicemail after a failed change", get(t, h, contact), want)
	jobs(t, h)
}

func testMissing(t *testing.T, h Harness) {
	ctx := context.Background()
	if _, err := h.State.Get(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a missing contact: %v, want store.ErrNotFound", err)
	}
	called := false
	err := h.State.Update(ctx, "nobody", func(*voicemail.Record) (bool, []pipeline.Job, error) {
		called = true
		return true, nil, nil
	})
	if !errors.Is(err, store.ErrNotFound) || called {
		t.Fatalf("update of a missing contact: %v, change called %v; want store.ErrNotFound without calling it", err, called)
	}
}

func testDelete(t *testing.T, h Harness) {
	ctx := context.Background()
	insert(t, h, record(contact))
	insert(t, h, record("c-2"))
	if err := h.State.Delete(ctx, contact); err != nil {
		t.Fatal(err)
	}
	if _, err := h.State.Get(ctx, contact); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v, want store.ErrNotFound", err)
	}
	if err := h.State.Delete(ctx, contact); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	get(t, h, "c-2")
	insert(t, h, record(contact))
}
