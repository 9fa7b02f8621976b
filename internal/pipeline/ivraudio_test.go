package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/clocktest"
	"github.com/vmx-dev/vmx/internal/ivr"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
)

// ivrBucket is Connect's recordings bucket, local files in these tests.
type ivrBucket struct {
	store *blob.Local
	key   string
	pcm   []byte // the recording's PCM, 3 s of telephone audio
	start time.Time
}

func newIVRBucket(t *testing.T) *ivrBucket {
	t.Helper()
	st, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]byte, 3*16000)
	for i := 0; i < len(pcm); i += 2 {
		binary.LittleEndian.PutUint16(pcm[i:], uint16(i*7))
	}
	return &ivrBucket{store: st, key: "connect/CallRecordings/" + contact + ".wav", pcm: pcm,
		start: time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)}
}

// write stores the recording, as Connect does some time after the call.
func (b *ivrBucket) write(t *testing.T) {
	t.Helper()
	var w bytes.Buffer
	ww, err := wav.NewWriter(&w, wav.Telephone, int64(len(b.pcm)))
	if err != nil {
		t.Fatal(err)
	}
	ww.Write(b.pcm)
	if err := ww.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Put(context.Background(), b.key, &w, blob.Attrs{ContentType: "audio/wav"}); err != nil {
		t.Fatal(err)
	}
}

// deps reads IVR recordings from the bucket, waiting wait for them.
func (b *ivrBucket) deps(wait time.Duration) func(*pipeline.Deps) {
	return func(d *pipeline.Deps) {
		d.Audio = pipeline.AudioRouter{S3: &pipeline.IVRAudio{Wait: wait, Attempt: 100 * time.Millisecond,
			Open: func(string) (ivr.Source, error) { return b.store, nil }}}
	}
}

// request is a voicemail whose call began two hours ago (a long wait in a
// queue) and that starts a second into the IVR recording.
func (b *ivrBucket) request() *voicemail.Request {
	return &voicemail.Request{
		ContactID: contact, Caller: "+15555550100", Language: "en-US", Mode: "webhook", Prefix: "vmx3_",
		QueueARN: "arn:aws:connect:us-east-1:111122223333:instance/i-1/queue/q-1", CallTime: b.start,
		Audio: voicemail.AudioSource{Kind: voicemail.AudioS3, Bucket: "connect", Key: b.key,
			RecordingStart: b.start, VoicemailStart: b.start.Add(time.Second)},
	}
}

// ivr.recording_wait counts from when vmx accepted the voicemail, not from
// the call's start: a recording that lands after the contact record of a
// call that began long ago is waited for and delivered; one that never
// lands fails the voicemail once the wait is over, saying so.
func TestIVRRecordingWaitsFromAcceptance(t *testing.T) {
	t.Run("appears", func(t *testing.T) {
		b := newIVRBucket(t)
		e := setup(t, storetest.SQLite(t), 3, b.deps(time.Minute))
		if _, err := e.p.Accept(context.Background(), b.request(), ""); err != nil {
			t.Fatal(err)
		}
		// An attempt found no recording and will retry; then it lands.
		rec := e.wait(t, func(r *voicemail.Record) bool {
			return r.Status != voicemail.StatusQueued || r.StepErrors[voicemail.StepAudio].Error != ""
		})
		if rec.Status != voicemail.StatusQueued {
			t.Fatalf("voicemail %s before its recording was written: %s", rec.Status, rec.Error)
		}
		b.write(t)
		rec = e.wait(t, func(r *voicemail.Record) bool { return r.Status != voicemail.StatusQueued })
		want := sha256.Sum256(b.pcm[16000:])
		if rec.Status != voicemail.StatusDelivered || rec.AudioSHA != hex.EncodeToString(want[:]) || rec.DurationMS != 2000 {
			t.Fatalf("voicemail %s (%s), audio %s of %d ms; want delivered, %x of 2000 ms", rec.Status, rec.Error, rec.AudioSHA, rec.DurationMS, want)
		}
		if got := rec.StepErrors[voicemail.StepAudio].Error; !strings.Contains(got, "recording s3://connect/"+b.key+" not there yet") {
			t.Fatalf("audio step error %q", got)
		}
		if n := e.sink.count(pipeline.DeliveryKey(contact, "webhook")); n != 1 {
			t.Fatalf("%d deliveries", n)
		}
	})
	t.Run("never appears", func(t *testing.T) {
		b := newIVRBucket(t)
		e := setup(t, storetest.SQLite(t), 3, b.deps(1500*time.Millisecond))
		if _, err := e.p.Accept(context.Background(), b.request(), ""); err != nil {
			t.Fatal(err)
		}
		rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status != voicemail.StatusQueued })
		if rec.Status != voicemail.StatusFailed || rec.FailedStep != voicemail.StepAudio ||
			!strings.HasPrefix(rec.Error, "audio: ivr audio: recording s3://connect/"+b.key+" not there yet: ") ||
			!strings.HasSuffix(rec.Error, "; it did not appear within 1.5s of the voicemail being accepted at "+rec.CreatedAt.Format(time.RFC3339)) {
			t.Fatalf("voicemail %s at %s: %q", rec.Status, rec.FailedStep, rec.Error)
		}
		// It was tried for the whole wait: the last attempt began after it.
		if last := rec.StepErrors[voicemail.StepAudio]; last.At.Before(rec.CreatedAt.Add(1500 * time.Millisecond)) {
			t.Fatalf("gave up at %v, %v after the voicemail was accepted", last.At, last.At.Sub(rec.CreatedAt))
		}
	})
}

// The wait is counted on the pipeline's clock from the voicemail's
// acceptance, whatever runs the step: Run keeps the step going while the
// wait lasts and gives up, before its attempts run out, once it is over.
func TestAudioWaitCountsFromAcceptance(t *testing.T) {
	b := newIVRBucket(t)
	c := clocktest.At(time.Now().UTC().Truncate(time.Millisecond))
	e := build(t, storetest.SQLite(t), 3, b.deps(10*time.Minute), func(d *pipeline.Deps) { d.Now = c.Now })
	ctx := context.Background()
	if _, err := e.p.Accept(ctx, b.request(), ""); err != nil {
		t.Fatal(err)
	}
	job := pipeline.AudioArgs{ContactID: contact, Run: 1}
	for attempt := 1; attempt <= 3; attempt++ {
		c.Advance(3 * time.Minute)
		gaveUp, err := e.p.Run(ctx, job, attempt, 10)
		if gaveUp || err == nil {
			t.Fatalf("attempt %d, %d minutes after acceptance: gave up %v, %v", attempt, 3*attempt, gaveUp, err)
		}
	}
	// On SQS every receive is an attempt: waiting past the attempts a
	// failing step gets must not give up before the wait is over.
	if gaveUp, err := e.p.Run(ctx, job, 10, 3); gaveUp || err == nil {
		t.Fatalf("attempt 10 of 3 while the wait lasts: gave up %v, %v", gaveUp, err)
	}
	rec, err := e.store.Get(ctx, contact)
	if err != nil || rec.Status != voicemail.StatusQueued || rec.StepErrors[voicemail.StepAudio].Attempt != 10 {
		t.Fatalf("voicemail %+v, %v", rec, err)
	}
	c.Advance(time.Minute)
	gaveUp, err := e.p.Run(ctx, job, 4, 10)
	if !gaveUp || err == nil {
		t.Fatalf("10 minutes after acceptance: gave up %v, %v", gaveUp, err)
	}
	rec, err = e.store.Get(ctx, contact)
	if err != nil || rec.Status != voicemail.StatusFailed || rec.StepErrors[voicemail.StepAudio].Attempt != 4 ||
		!strings.HasSuffix(rec.Error, "; it did not appear within 10m0s of the voicemail being accepted at "+rec.CreatedAt.Format(time.RFC3339)) {
		t.Fatalf("voicemail %+v, %v", rec, err)
	}
}
