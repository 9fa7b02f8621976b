//go:build linux

package lambdatest_test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmx-dev/vmx/internal/awsstate"
	"github.com/vmx-dev/vmx/internal/awsstate/awsstatetest"
	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/lambdatest"
	"github.com/vmx-dev/vmx/internal/synth"
	vm "github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
	"github.com/vmx-dev/vmx/internal/webhook"
)

const (
	// pipelineSecret signs every request to the local AWS services; the
	// KVS simulator checks the signatures, the DynamoDB and SQS fakes the
	// key ID.
	pipelineSecret = "lambdatest-pipeline-secret"
	hookSecret     = "lambdatest-webhook-secret"
	pipelineBucket = "vmx-recordings"
	publicURL      = "https://media.example.com"
	callStream     = "connect-contact-audio"
)

// callTime is when the test calls start.
var callTime = time.Date(2026, 1, 5, 15, 4, 0, 0, time.UTC)

// pipelineEnv is what the pipeline's functions (ctr, step,
// transcribe-event, media) talk to, all local: DynamoDB and SQS FIFO
// (wire-level fakes), S3 (gofakes3), Kinesis Video Streams (the
// simulator, one per call) and a webhook receiver.
type pipelineEnv struct {
	db    *awsstatetest.DynamoDB
	queue *awsstatetest.SQS
	s3    *s3.Client
	s3URL string
	kvs   atomic.Pointer[kvssim.Server]
	hook  *hookReceiver
	state *awsstate.State
	bin   string // vmx, built as make lambda builds it
	env   map[string]string
}

func newPipelineEnv(tb testing.TB) *pipelineEnv {
	tb.Helper()
	e := &pipelineEnv{db: awsstatetest.NewDynamoDB(tb), queue: awsstatetest.NewSQS(tb), hook: newHookReceiver(tb), bin: vmxBinary(tb)}
	s3srv := blobtest.Gofakes3(tb)
	e.s3, e.s3URL = s3srv.Client(), s3srv.Endpoint
	if _, err := e.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(pipelineBucket)}); err != nil {
		tb.Fatal(err)
	}
	kvsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.kvs.Load().ServeHTTP(w, r) }))
	tb.Cleanup(kvsSrv.Close)
	var err error
	e.state, err = awsstate.New(e.db.Client(), e.queue.Client(), awsstate.Config{Table: awsstatetest.Table, QueueURL: e.queue.QueueURL()})
	if err != nil {
		tb.Fatal(err)
	}
	qu, err := url.Parse(e.queue.QueueURL())
	if err != nil {
		tb.Fatal(err)
	}
	// The functions' settings as the template sets them, with endpoints
	// that Lambda's environment does not have; TMPDIR stands for /tmp.
	e.env = map[string]string{
		"AWS_ACCESS_KEY_ID": awsstatetest.AccessKeyID, "AWS_SECRET_ACCESS_KEY": pipelineSecret, "AWS_SESSION_TOKEN": "",
		"AWS_ENDPOINT_URL_DYNAMODB": e.db.URL(), "AWS_ENDPOINT_URL_SQS": qu.Scheme + "://" + qu.Host,
		"VMX_LAMBDA_TABLE": awsstatetest.Table, "VMX_LAMBDA_STEP_QUEUE": e.queue.QueueURL(),
		"VMX_BUCKET": pipelineBucket, "VMX_S3_ENDPOINT": e.s3URL, "VMX_S3_PATH_STYLE": "true",
		"VMX_KVS_ENDPOINT": kvsSrv.URL, "VMX_TRANSCRIBER": "none", "VMX_DEFAULT_MODE": "webhook",
		"VMX_WEBHOOK_URL": e.hook.srv.URL, "VMX_WEBHOOK_SECRET": hookSecret,
		"VMX_LINK_SECRET": linkSecret, "VMX_PUBLIC_URL": publicURL,
		"TMPDIR": tb.TempDir(),
	}
	return e
}

// function is the named pipeline function as the template configures
// it: 128 MB, enforced, and the template's timeout.
func (e *pipelineEnv) function(handler string) lambdatest.Config {
	timeouts := map[string]time.Duration{"ctr": time.Minute, "step": 900 * time.Second, "transcribe-event": 30 * time.Second, "media": 10 * time.Second}
	return lambdatest.Config{Binary: e.bin, Handler: handler, FunctionName: "vmx-" + handler,
		MemoryMB: 128, EnforceMemory: true, Timeout: timeouts[handler], Env: e.env}
}

// call is a synthetic two-track call: the prompt and beep the caller
// hears, and the caller's message.
type call struct {
	length   time.Duration
	from, to []byte
}

func newCall(length time.Duration) *call {
	n := int(length.Seconds()) * synth.SampleRate * 2
	c := &call{length: length, from: make([]byte, n), to: make([]byte, n)}
	synth.NewCall(11, 1).Read(c.from, c.to)
	return c
}

// record puts the call on a new KVS simulator as Connect streams it, for
// contact, and returns the contact record Connect then writes.
func (e *pipelineEnv) record(tb testing.TB, c *call, contact string) []byte {
	tb.Helper()
	sim := kvssim.New(kvssim.Options{Credentials: &kvssim.Credentials{AccessKeyID: awsstatetest.AccessKeyID, SecretAccessKey: pipelineSecret}})
	if err := sim.AddStream(callStream, kvssim.FromPCM(c.from, c.to, kvssim.Contact{ContactID: contact, Start: callTime})); err != nil {
		tb.Fatal(err)
	}
	e.kvs.Store(sim)
	arn, _ := sim.StreamARN(callStream)
	frags, _ := sim.Fragments(callStream)
	return ctrRecord(tb, contact, arn, frags[0].Number, frags[len(frags)-1].Number, c.length)
}

func ctrRecord(tb testing.TB, contact, streamARN, startFragment, stopFragment string, length time.Duration) []byte {
	b, err := json.Marshal(map[string]any{
		"ContactId": contact, "Channel": "VOICE", "InitiationMethod": "INBOUND",
		"InitiationTimestamp": callTime.Add(-20 * time.Second).Format(time.RFC3339),
		"DisconnectTimestamp": callTime.Add(length).Format(time.RFC3339), "InstanceARN": instance,
		"Attributes": map[string]string{"vmx3_flag": "1", "vmx3_from": "+15555550123", "vmx3_lang": "en-US"},
		"Recordings": []map[string]any{{"Location": streamARN, "StorageType": "KINESIS_VIDEO_STREAM", "ParticipantType": "CUSTOMER",
			"MediaStreamType": "AUDIO", "FragmentStartNumber": startFragment, "FragmentStopNumber": stopFragment,
			"StartTimestamp": callTime.Format(time.RFC3339), "StopTimestamp": callTime.Add(length).Format(time.RFC3339)}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// kinesisEvent is the ctr function's event: Connect's contact record
// stream, one record.
func kinesisEvent(tb testing.TB, record []byte, seq int) []byte {
	sn := fmt.Sprintf("4959033827149025660855969253836157109592157598913658%04d", seq)
	b, err := json.Marshal(events.KinesisEvent{Records: []events.KinesisEventRecord{{
		AwsRegion: "us-east-1", EventID: "shardId-000000000000:" + sn, EventName: "aws:kinesis:record", EventSource: "aws:kinesis",
		EventSourceArn: "arn:aws:kinesis:us-east-1:111122223333:stream/connect-ctr", EventVersion: "1.0",
		InvokeIdentityArn: "arn:aws:iam::111122223333:role/vmx-ctr",
		Kinesis: events.KinesisRecord{ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: callTime.Add(time.Hour)},
			Data: record, PartitionKey: "connect-ctr", SequenceNumber: sn, KinesisSchemaVersion: "1.0"},
	}}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sqsEvent is the step function's event: messages of the FIFO step
// queue, as its event source mapping delivers them.
func sqsEvent(tb testing.TB, msgs []awsstatetest.Message) []byte {
	var ev events.SQSEvent
	for _, m := range msgs {
		sum := md5.Sum([]byte(m.Body))
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: m.ID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, Md5OfBody: hex.EncodeToString(sum[:]),
			Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(m.Receives), "MessageGroupId": m.GroupID,
				"SentTimestamp": "1767625440000", "SenderId": "AROAEXAMPLE:vmx-step", "ApproximateFirstReceiveTimestamp": "1767625440010"},
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:" + awsstatetest.QueueName, AWSRegion: "us-east-1",
		})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// batchFailures reads a ctr or step function's answer: the number of
// items to retry.
func batchFailures(tb testing.TB, out []byte) int {
	tb.Helper()
	var resp map[string]json.RawMessage
	var failures []json.RawMessage
	if err := json.Unmarshal(out, &resp); err != nil || resp["batchItemFailures"] == nil || json.Unmarshal(resp["batchItemFailures"], &failures) != nil {
		tb.Fatalf("answer %s is not a batch response", out)
	}
	return len(failures)
}

// voicemailRun is what one voicemail cost, as Lambda reports it.
type voicemailRun struct {
	ctrInit, stepInit         time.Duration
	ctrInitPeak, stepInitPeak int64
	ctr                       lambdatest.Invocation
	steps                     []stepInvocation
	stepPeak                  int64 // the step function's, over its life
	delivery                  webhook.Body
}

// stepInvocation is one invocation of the step function.
type stepInvocation struct {
	kind string // the steps' kinds, e.g. "audio"
	lambdatest.Invocation
}

// maxStepRounds bounds the step invocations of one voicemail: it takes
// five (audio, transcribe, package, deliver, finalize).
const maxStepRounds = 20

// runVoicemail records c for contact, starts the ctr function (a cold
// start) and invokes it with the contact record, then starts the step
// function (a cold start) and invokes it with the step queue's messages
// until the queue is empty. It checks that the webhook received the
// voicemail once and that the stored recording is the caller's audio.
func (e *pipelineEnv) runVoicemail(tb testing.TB, c *call, contact string, seq int) voicemailRun {
	tb.Helper()
	ctx := context.Background()
	var run voicemailRun
	event := kinesisEvent(tb, e.record(tb, c, contact), seq)

	f := e.start(tb, "ctr")
	run.ctrInit, run.ctrInitPeak = f.InitDuration(), f.PeakRSS()
	run.ctr = e.invoke(tb, f, event)
	f.Stop()
	if n := batchFailures(tb, run.ctr.Response); n != 0 {
		tb.Fatalf("ctr: %d failures: %s\n%s", n, run.ctr.Response, f.Logs())
	}

	f = e.start(tb, "step")
	defer f.Stop()
	run.stepInit, run.stepInitPeak = f.InitDuration(), f.PeakRSS()
	for round := 0; ; round++ {
		msgs := e.queue.Receive()
		if len(msgs) == 0 {
			break
		}
		if round == maxStepRounds {
			tb.Fatalf("step queue not empty after %d invocations\n%s", round, f.Logs())
		}
		var kinds []string
		for _, m := range msgs {
			job, err := awsstate.DecodeMessage(m.Body)
			if err != nil {
				tb.Fatal(err)
			}
			kinds = append(kinds, strings.TrimPrefix(job.Kind(), "vmx_"))
		}
		inv := e.invoke(tb, f, sqsEvent(tb, msgs))
		if n := batchFailures(tb, inv.Response); n != 0 {
			tb.Fatalf("step %s: %d failures: %s\n%s", kinds, n, inv.Response, f.Logs())
		}
		run.steps = append(run.steps, stepInvocation{kind: strings.Join(kinds, "+"), Invocation: inv})
	}
	run.stepPeak = f.PeakRSS()

	rec, err := e.state.Get(ctx, contact)
	if err != nil || rec.Status != vm.StatusDelivered {
		tb.Fatalf("voicemail %+v, %v\n%s", rec, err, f.Logs())
	}
	if got, want := rec.DurationMS, c.length.Milliseconds(); got != want {
		tb.Errorf("duration %d ms, want %d", got, want)
	}
	bodies := e.hook.received(contact)
	if len(bodies) != 1 {
		tb.Fatalf("the webhook received %d deliveries of %s, want 1", len(bodies), contact)
	}
	run.delivery = bodies[0]
	if run.delivery.DurationMS != c.length.Milliseconds() || !strings.HasPrefix(run.delivery.MediaURL, publicURL+"/v1/media/"+contact+"?") {
		tb.Errorf("webhook body %+v", run.delivery)
	}
	obj, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(pipelineBucket), Key: aws.String(rec.AudioKey)})
	if err != nil {
		tb.Fatalf("stored recording %s: %v", rec.AudioKey, err)
	}
	defer obj.Body.Close()
	if got := pcmSHA256(tb, obj.Body); got != sha256.Sum256(c.from) {
		tb.Fatalf("the stored recording %s is not the caller's audio", rec.AudioKey)
	}
	return run
}

func (e *pipelineEnv) start(tb testing.TB, handler string) *lambdatest.Function {
	tb.Helper()
	f, err := lambdatest.Start(context.Background(), e.function(handler))
	if err != nil {
		tb.Fatalf("%s: %v", handler, err)
	}
	return f
}

// invoke invokes f, failing on any error, Runtime.OutOfMemory included.
func (e *pipelineEnv) invoke(tb testing.TB, f *lambdatest.Function, event []byte) lambdatest.Invocation {
	tb.Helper()
	inv, err := f.Do(context.Background(), event)
	if err == nil && inv.Err != nil {
		err = inv.Err
	}
	if err != nil {
		tb.Fatalf("%v\n%s", err, f.Logs())
	}
	return inv
}

// pcmSHA256 is the SHA-256 of a WAV's samples.
func pcmSHA256(tb testing.TB, r io.Reader) [32]byte {
	tb.Helper()
	pcm, err := wav.NewReader(r)
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, pcm); err != nil {
		tb.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// hookReceiver is a webhook destination that checks each request's
// signature and keeps the bodies by contact.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies map[string][]webhook.Body
}

func newHookReceiver(tb testing.TB) *hookReceiver {
	h := &hookReceiver{bodies: map[string][]webhook.Body{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := webhook.Verify([]byte(hookSecret), r.Header, raw, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var b webhook.Body
		if err := json.Unmarshal(raw, &b); err != nil || b.Schema != webhook.SchemaVersion || b.DeliveryID != r.Header.Get(webhook.HeaderDelivery) {
			http.Error(w, fmt.Sprintf("body %s: %v", raw, err), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.bodies[b.ContactID] = append(h.bodies[b.ContactID], b)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) received(contact string) []webhook.Body {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhook.Body(nil), h.bodies[contact]...)
}

// mediaEvent is the media function's event: a GET of link through the
// function's URL.
func mediaEvent(tb testing.TB, link string) []byte {
	u, err := url.Parse(link)
	if err != nil {
		tb.Fatal(err)
	}
	const domain = "abcdefg.lambda-url.us-east-1.on.aws"
	b, err := json.Marshal(events.LambdaFunctionURLRequest{
		Version: "2.0", RawPath: u.Path, RawQueryString: u.RawQuery,
		Headers:               map[string]string{"host": domain, "user-agent": "curl/8.5.0"},
		QueryStringParameters: map[string]string{"exp": u.Query().Get("exp"), "sig": u.Query().Get("sig")},
		RequestContext: events.LambdaFunctionURLRequestContext{AccountID: "anonymous", RequestID: requestID(), APIID: "abcdefg",
			DomainName: domain, DomainPrefix: "abcdefg", Time: "05/Jan/2026:15:30:00 +0000", TimeEpoch: 1767627000000,
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: http.MethodGet, Path: u.Path, Protocol: "HTTP/1.1",
				SourceIP: "203.0.113.7", UserAgent: "curl/8.5.0"}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mediaRedirect reads the media function's answer: the presigned S3 URL
// it redirects to.
func (e *pipelineEnv) mediaRedirect(out []byte) (string, error) {
	var resp events.LambdaFunctionURLResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return "", fmt.Errorf("media answer %s: %w", out, err)
	}
	loc := resp.Headers["Location"]
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, e.s3URL+"/"+pipelineBucket+"/recordings/") {
		return "", fmt.Errorf("media answer %s, want a redirect to the recording", out)
	}
	return loc, nil
}

var requestSeq atomic.Int64

func requestID() string { return fmt.Sprintf("5e1f2a3b-0000-4000-8000-%012d", requestSeq.Add(1)) }

// A one-minute voicemail goes through vmx's pipeline functions run as
// Lambda runs them, each in 128 MB: the ctr function stores the contact
// record and queues the first step, the step function runs the steps
// from the FIFO queue until the webhook has the voicemail, once, and the
// media function redirects the webhook's link to the caller's audio.
func TestVMXVoicemail(t *testing.T) {
	e := newPipelineEnv(t)
	c := newCall(time.Minute)
	const contact = "c0ffee00-0000-4000-8000-000000000001"
	run := e.runVoicemail(t, c, contact, 1)
	var kinds []string
	for _, s := range run.steps {
		kinds = append(kinds, s.kind)
	}
	if got := strings.Join(kinds, " "); got != "audio transcribe package deliver finalize" {
		t.Errorf("steps %q", got)
	}

	f := e.start(t, "media")
	defer f.Stop()
	loc, err := e.mediaRedirect(e.invoke(t, f, mediaEvent(t, run.delivery.MediaURL)).Response)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || pcmSHA256(t, resp.Body) != sha256.Sum256(c.from) {
		t.Fatalf("the media link does not serve the caller's audio (%s)", resp.Status)
	}
}
