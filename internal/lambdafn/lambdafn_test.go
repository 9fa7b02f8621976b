package lambdafn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/awsstate"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/lambdafn"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
)

const (
	contactA = "a1000000-0000-4000-8000-000000000001"
	contactB = "b2000000-0000-4000-8000-000000000002"
	contactC = "c3000000-0000-4000-8000-000000000003"
	contactD = "d4000000-0000-4000-8000-000000000004"
	instance = "arn:aws:connect:us-east-1:111122223333:instance/11111111-2222-3333-4444-555555555555"
)

// fixture is a pipeline on SQLite, as vmx serve keeps state, whose steps
// are not worked: the jobs it enqueues stay in the database to be read.
type fixture struct {
	store *store.Store
	p     *pipeline.Pipeline
	audio *fakeAudio
}

func newFixture(t *testing.T, wrap func(pipeline.State) pipeline.State) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), storetest.SQLite(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var state pipeline.State = &pipeline.SQLState{Store: st}
	if wrap != nil {
		state = wrap(state)
	}
	f := &fixture{store: st, audio: &fakeAudio{fail: map[string]error{}}}
	f.p, err = pipeline.New(pipeline.Deps{
		State: state, Blobs: blobtest.NewLocal(t), Audio: f.audio, Transcriber: asr.None{},
		Sinks: map[string]pipeline.Sink{"webhook": nopSink{}}, DefaultMode: "webhook",
		Links: links{}, TempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// jobs lists the enqueued jobs as "kind args".
func (f *fixture) jobs(t *testing.T) []string {
	t.Helper()
	rows, err := f.store.SQL().Query(`SELECT kind, args FROM river_job ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var jobs []string
	for rows.Next() {
		var kind string
		var args []byte
		if err := rows.Scan(&kind, &args); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, kind+" "+string(args))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return jobs
}

func (f *fixture) get(t *testing.T, id string) *voicemail.Record {
	t.Helper()
	rec, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("voicemail %s: %v", id, err)
	}
	return rec
}

func (f *fixture) accept(t *testing.T, id string) {
	t.Helper()
	req := &voicemail.Request{ContactID: id, Caller: "+15555550100", Language: "en-US", Mode: "webhook",
		CallTime: time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), Audio: voicemail.AudioSource{Kind: voicemail.AudioKVS}}
	if ok, err := f.p.Accept(context.Background(), req, ""); err != nil || !ok {
		t.Fatalf("accept %s: %v %v", id, ok, err)
	}
}

// fakeAudio writes one second of telephone audio, or fails as told.
type fakeAudio struct {
	mu   sync.Mutex
	fail map[string]error
}

func (a *fakeAudio) FetchAudio(_ context.Context, req *voicemail.Request, w io.Writer) (pipeline.Audio, error) {
	a.mu.Lock()
	err := a.fail[req.ContactID]
	a.mu.Unlock()
	if err != nil {
		return pipeline.Audio{}, err
	}
	pcm := bytes.Repeat([]byte{1, 2}, 8000)
	ww, err := wav.NewWriter(w, wav.Telephone, int64(len(pcm)))
	if err != nil {
		return pipeline.Audio{}, err
	}
	if _, err := ww.Write(pcm); err != nil {
		return pipeline.Audio{}, err
	}
	return pipeline.Audio{DurationMS: 1000, SHA256: "sha"}, ww.Close()
}

type nopSink struct{}

func (nopSink) Deliver(context.Context, *voicemail.Delivery, string) (string, error) {
	return "ok", nil
}

type links struct{}

func (links) URL(id string) string { return "https://vmx.example.com/v1/media/" + id }

// invoke runs handler on event JSON as the Lambda runtime does, and
// decodes its answer into out.
func invoke(t *testing.T, handler any, event string, out any) error {
	t.Helper()
	resp, err := lambda.NewHandler(handler).Invoke(context.Background(), []byte(event))
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			t.Fatalf("answer %s: %v", resp, err)
		}
	}
	return nil
}

// contactRecord is an IVR-recorded VMX3 voicemail's contact record; a
// voicemail without a recording when recorded is false.
func contactRecord(id, flag string, recorded bool) []byte {
	rec := map[string]any{
		"AWSAccountId": "111122223333", "AWSContactTraceRecordFormatVersion": "2017-03-10",
		"Agent": nil, "Channel": "VOICE", "ContactId": id, "InstanceARN": instance,
		"InitiationMethod": "INBOUND", "InitiationTimestamp": "2026-01-02T09:00:00Z",
		"DisconnectTimestamp": "2026-01-02T09:01:10Z",
		"CustomerEndpoint":    map[string]string{"Address": "+15555551212", "Type": "TELEPHONE_NUMBER"},
		"Attributes": map[string]string{"vmx3_flag": flag, "vmx3_from": "+15555551212", "vmx3_lang": "en-US",
			"vmx3_queue_arn": instance + "/queue/66666666-7777-8888-9999-000000000000", "vmx3_timestamp": "2026-01-02T09:00:30Z"},
		"Recordings": nil,
	}
	if recorded {
		rec["Recordings"] = []map[string]any{{
			"Location":        "amazon-connect-1a2b3c4d5e6f/connect/alias/CallRecordings/2026/01/02/" + id + "_20260102T09:00_UTC.wav",
			"MediaStreamType": "AUDIO", "ParticipantType": "IVR", "StorageType": "S3", "Status": "AVAILABLE",
			"StartTimestamp": "2026-01-02T09:00:10Z", "StopTimestamp": "2026-01-02T09:01:10Z",
		}}
	}
	b, _ := json.Marshal(rec)
	return b
}

// kinesisEvent is the event Lambda's Kinesis event source mapping sends,
// one record per data, sequence numbers 1001, 1002…
func kinesisEvent(data ...[]byte) string {
	var recs []map[string]any
	for i, d := range data {
		seq := fmt.Sprint(1001 + i)
		recs = append(recs, map[string]any{
			"kinesis": map[string]any{
				"kinesisSchemaVersion": "1.0", "partitionKey": "pk", "sequenceNumber": seq,
				"data": base64.StdEncoding.EncodeToString(d), "approximateArrivalTimestamp": 1767344470.987,
			},
			"eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": "shardId-000000000000:" + seq,
			"eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::111122223333:role/vmx-ctr",
			"awsRegion": "us-east-1", "eventSourceARN": "arn:aws:kinesis:us-east-1:111122223333:stream/ctr",
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return string(b)
}

type batchResponse struct {
	BatchItemFailures []struct {
		ItemIdentifier string `json:"itemIdentifier"`
	} `json:"batchItemFailures"`
}

func (r batchResponse) ids() []string {
	var ids []string
	for _, f := range r.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// A batch of a voicemail, its repeat, a record whose flag is not "1", an
// invalid voicemail and bytes that are no contact record: the voicemail
// is stored with its first step, the invalid one stored as failed, and no
// record is a failure.
func TestCTR(t *testing.T) {
	f := newFixture(t, nil)
	h := &lambdafn.CTR{Pipeline: f.p}
	event := kinesisEvent(contactRecord(contactA, "1", true), contactRecord(contactA, "1", true),
		contactRecord(contactB, "0", true), contactRecord(contactC, "1", false), []byte("not json"))
	var resp batchResponse
	if err := invoke(t, h.Handle, event, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", resp.ids())
	}
	a := f.get(t, contactA)
	if a.Status != voicemail.StatusQueued || a.Prefix != "vmx3_" || a.Audio.Kind != voicemail.AudioS3 || a.Caller != "+15555551212" {
		t.Fatalf("voicemail %+v", a)
	}
	if _, err := f.store.Get(context.Background(), contactB); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("flag 0 stored: %v", err)
	}
	c := f.get(t, contactC)
	if c.Status != voicemail.StatusFailed || c.FailedStep != "intake" || !strings.Contains(c.Error, "no recording") {
		t.Fatalf("invalid voicemail %+v", c)
	}
	want := []string{`vmx_audio {"contact_id":"` + contactA + `","run":1}`}
	if got := f.jobs(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("jobs %q, want %q", got, want)
	}
}

// failingState fails to store one contact, as DynamoDB or SQS might.
type failingState struct {
	pipeline.State
	contactID string
}

func (s failingState) Insert(ctx context.Context, rec *voicemail.Record, next ...pipeline.Job) (bool, error) {
	if rec.ContactID == s.contactID {
		return false, errors.New("ProvisionedThroughputExceededException")
	}
	return s.State.Insert(ctx, rec, next...)
}

// A record that cannot be stored is reported with every record after it,
// which is left for the retry; those before it are stored.
func TestCTRFailureReportsTheRest(t *testing.T) {
	f := newFixture(t, func(s pipeline.State) pipeline.State { return failingState{s, contactB} })
	h := &lambdafn.CTR{Pipeline: f.p}
	event := kinesisEvent(contactRecord(contactA, "1", true), contactRecord(contactB, "1", true),
		contactRecord(contactC, "0", true), contactRecord(contactD, "1", true))
	var resp batchResponse
	if err := invoke(t, h.Handle, event, &resp); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(resp.ids(), ","); got != "1002,1003,1004" {
		t.Fatalf("failures %s, want 1002,1003,1004", got)
	}
	f.get(t, contactA)
	if _, err := f.store.Get(context.Background(), contactD); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record after the failure stored: %v", err)
	}
}

// delays records RetryAfter calls.
type delays struct {
	mu  sync.Mutex
	got []string
}

func (d *delays) RetryAfter(_ context.Context, receipt string, delay time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, fmt.Sprintf("%s %s", receipt, delay))
	return nil
}

// sqsEvent is the event Lambda's SQS event source mapping sends; each
// message is id, body and receive count.
func sqsEvent(msgs ...[3]string) string {
	var recs []map[string]any
	for _, m := range msgs {
		recs = append(recs, map[string]any{
			"messageId": m[0], "receiptHandle": "receipt-" + m[0], "body": m[1],
			"attributes": map[string]string{"ApproximateReceiveCount": m[2], "SentTimestamp": "1767344470000",
				"SenderId": "AROAEXAMPLE:vmx-ctr", "ApproximateFirstReceiveTimestamp": "1767344470010"},
			"messageAttributes": map[string]any{}, "md5OfBody": "x", "eventSource": "aws:sqs",
			"eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:vmx-steps", "awsRegion": "us-east-1",
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return string(b)
}

func audioBody(id string) string {
	return `{"kind":"vmx_audio","args":{"contact_id":"` + id + `","run":1}}`
}

// The step function runs each message's step: a step done enqueues the
// next; one that asks for a delay is retried after it, one that does not
// after the back-off of its attempt; one failing its last attempt is given
// up (the voicemail failed) and not retried; a message that is no step is
// dropped.
func TestStep(t *testing.T) {
	f := newFixture(t, nil)
	for _, id := range []string{contactA, contactB, contactC, contactD} {
		f.accept(t, id)
	}
	f.audio.fail[contactB] = retry.After(42*time.Second, errors.New("recording not there yet"))
	f.audio.fail[contactC] = errors.New("kvs: 503")
	f.audio.fail[contactD] = errors.New("kvs: 503")
	d := &delays{}
	h := &lambdafn.Step{Runner: f.p, Decode: awsstate.DecodeMessage, Delayer: d, MaxAttempts: 5}
	event := sqsEvent([3]string{"m1", audioBody(contactA), "1"}, [3]string{"m2", audioBody(contactB), "1"},
		[3]string{"m3", audioBody(contactC), "3"}, [3]string{"m4", "{not a step", "1"},
		[3]string{"m5", `{"kind":"vmx_nope","args":{}}`, "1"}, [3]string{"m6", audioBody(contactD), "5"})
	var resp batchResponse
	if err := invoke(t, h.Handle, event, &resp); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(resp.ids(), ","); got != "m2,m3" {
		t.Fatalf("retried %s, want m2,m3", got)
	}
	if got := strings.Join(d.got, ","); got != "receipt-m2 42s,receipt-m3 4s" {
		t.Fatalf("delays %s", got)
	}
	a := f.get(t, contactA)
	if _, done := a.Steps[voicemail.StepAudio]; !done || a.AudioKey != blob.RecordingKey(a.CallTime, contactA) {
		t.Fatalf("audio step not done: %+v", a)
	}
	if dd := f.get(t, contactD); dd.Status != voicemail.StatusFailed || dd.FailedStep != voicemail.StepAudio {
		t.Fatalf("last attempt not given up: %+v", dd)
	}
	if b := f.get(t, contactB); b.Status != voicemail.StatusQueued {
		t.Fatalf("retried voicemail %+v", b)
	}
	want := `vmx_transcribe {"contact_id":"` + contactA + `","run":1}`
	if jobs := f.jobs(t); jobs[len(jobs)-1] != want {
		t.Fatalf("jobs %q, want the last %q", jobs, want)
	}
}

// On the FIFO queue a contact's later messages in a batch wait behind one
// to retry: they are reported, not run.
func TestStepKeepsGroupOrder(t *testing.T) {
	f := newFixture(t, nil)
	for _, id := range []string{contactA, contactB, contactC} {
		f.accept(t, id)
	}
	f.audio.fail[contactC] = errors.New("kvs: 503")
	h := &lambdafn.Step{Runner: f.p, Decode: awsstate.DecodeMessage, Delayer: &delays{}, MaxAttempts: 5}
	var ev map[string][]map[string]any
	if err := json.Unmarshal([]byte(sqsEvent([3]string{"m1", audioBody(contactC), "1"}, [3]string{"m2", audioBody(contactA), "1"},
		[3]string{"m3", audioBody(contactB), "1"})), &ev); err != nil {
		t.Fatal(err)
	}
	for i, group := range []string{"g1", "g1", "g2"} {
		ev["Records"][i]["attributes"].(map[string]any)["MessageGroupId"] = group
	}
	b, _ := json.Marshal(ev)
	var resp batchResponse
	if err := invoke(t, h.Handle, string(b), &resp); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(resp.ids(), ","); got != "m1,m2" {
		t.Fatalf("reported %s, want m1,m2 (m2 waits behind m1 in group g1)", got)
	}
	if a := f.get(t, contactA); a.AudioKey != "" {
		t.Fatalf("m2 ran although it waits behind m1: %+v", a)
	}
	if b := f.get(t, contactB); b.AudioKey == "" {
		t.Fatalf("m3, in another group, did not run: %+v", b)
	}
}

// transcribeEvent is Amazon Transcribe's job state change event, as its
// documentation shows it.
func transcribeEvent(job, status string) string {
	return `{"version":"0","id":"1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d","detail-type":"Transcribe Job State Change",
		"source":"aws.transcribe","account":"111122223333","time":"2026-01-02T09:02:00Z","region":"us-east-1",
		"resources":[],"detail":{"TranscriptionJobName":"` + job + `","TranscriptionJobStatus":"` + status + `"}}`
}

// A job of a voicemail waiting for its transcript enqueues its transcribe
// step; other jobs, voicemails gone or past the step change nothing.
func TestTranscribeEvent(t *testing.T) {
	f := newFixture(t, nil)
	f.accept(t, contactA)
	f.accept(t, contactB)
	if err := f.p.State.Update(context.Background(), contactB, func(rec *voicemail.Record) (bool, []pipeline.Job, error) {
		rec.Steps[voicemail.StepTranscribe] = time.Now().UTC()
		return true, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	h := &lambdafn.TranscribeEvent{State: f.p.State}
	before := len(f.jobs(t))
	for _, ev := range []string{
		transcribeEvent("vmx_"+contactA, "COMPLETED"),
		transcribeEvent("vmx_"+contactB, "COMPLETED"),
		transcribeEvent("vmx_"+contactC, "FAILED"),
		transcribeEvent("someone-elses-job", "COMPLETED"),
	} {
		if err := invoke(t, h.Handle, ev, nil); err != nil {
			t.Fatal(err)
		}
	}
	jobs := f.jobs(t)
	want := `vmx_transcribe {"contact_id":"` + contactA + `","run":1}`
	if len(jobs) != before+1 || jobs[len(jobs)-1] != want {
		t.Fatalf("jobs %q, want one more: %q", jobs[before:], want)
	}
}

// The timestamper answers Connect's flow invocation with the time, UTC to
// the second, as VMX3's does.
func TestTimestamp(t *testing.T) {
	now := time.Date(2025, 9, 12, 11, 4, 12, 987654321, time.FixedZone("EDT", -4*3600))
	event := `{"Name":"ContactFlowEvent","Details":{"ContactData":{"Attributes":{"vmx3_flag":"0"},"Channel":"VOICE",
		"ContactId":"` + contactA + `","CustomerEndpoint":{"Address":"+15555551212","Type":"TELEPHONE_NUMBER"},
		"InitialContactId":"` + contactA + `","InitiationMethod":"INBOUND","InstanceARN":"` + instance + `",
		"PreviousContactId":"` + contactA + `","Queue":null,"SystemEndpoint":{"Address":"+18005550100","Type":"TELEPHONE_NUMBER"}},
		"Parameters":{}}}`
	var resp map[string]string
	if err := invoke(t, lambdafn.Timestamp(func() time.Time { return now }), event, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp) != 1 || resp["vmx3_timestamp"] != "2025-09-12T15:04:12Z" {
		t.Fatalf("answer %v", resp)
	}
}
