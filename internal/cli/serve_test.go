package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/kinesis/kinesistest"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
)

// kvsCall is a call on a simulated KVS stream and the caller's PCM on it.
type kvsCall struct {
	contact string
	at      time.Time
	arn     string
	frags   []kvssim.FragmentInfo
	pcm     []byte // the left channel of the synthesized call
}

// newKVSCall adds a call of seconds to sim as stream name.
func newKVSCall(t *testing.T, sim *kvssim.Server, name, contact string, at time.Time, seconds float64, seed uint64) kvsCall {
	t.Helper()
	var w bytes.Buffer
	if err := synth.WriteWAV(&w, synth.Spec{Seconds: seconds, Prompt: 0.3, Seed: seed, ContactID: contact, Start: at}); err != nil {
		t.Fatal(err)
	}
	c := kvsCall{contact: contact, at: at}
	stereo := bytes.Clone(w.Bytes()[wav.HeaderSize:])
	for i := 0; i+4 <= len(stereo); i += 4 {
		c.pcm = append(c.pcm, stereo[i:i+2]...)
	}
	src, err := kvssim.FromWAV(&w, kvssim.Contact{ContactID: contact, Start: at})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.AddStream(name, src); err != nil {
		t.Fatal(err)
	}
	c.arn, _ = sim.StreamARN(name)
	c.frags, _ = sim.Fragments(name)
	return c
}

// record is the call's contact record with vmx_flag flag, under ContactId id.
func (c kvsCall) record(id, flag string) []byte {
	b, _ := json.Marshal(map[string]any{
		"ContactId": id, "Channel": "VOICE", "InitiationTimestamp": c.at.Format(time.RFC3339),
		"InstanceARN": "arn:aws:connect:us-east-1:111122223333:instance/11111111-2222-3333-4444-555555555555",
		"Attributes":  map[string]string{"vmx_flag": flag, "vmx_from": "+15555550199", "vmx_lang": "en-US"},
		"Recordings": []map[string]any{{"Location": c.arn, "StorageType": "KINESIS_VIDEO_STREAM", "ParticipantType": "CUSTOMER",
			"FragmentStartNumber": c.frags[0].Number, "FragmentStopNumber": c.frags[len(c.frags)-1].Number,
			"StartTimestamp": c.at.Format(time.RFC3339), "StopTimestamp": c.at.Add(time.Minute).Format(time.RFC3339)}},
	})
	return b
}

// serveInProcess runs `vmx serve` in the test's process with env as its
// environment until the test ends.
func serveInProcess(t *testing.T, env map[string]string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := Main(ctx, []string{"serve"}, &Env{Stdin: bytes.NewReader(nil), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }})
		done <- result{code, stdout.String(), stderr.String()}
	}()
	t.Cleanup(func() {
		cancel()
		if r := <-done; r.code != 0 {
			t.Errorf("serve exited %d: %s", r.code, r.stderr)
		}
	})
}

// apiGet GETs an API path of vmx serve at addr into v, and returns the
// status; 0 when vmx does not answer (yet).
func apiGet(t *testing.T, addr, apiKey, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	req.Header.Set("X-API-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %d: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode
}

// waitVoicemail polls the voicemail until it leaves the queue.
func waitVoicemail(t *testing.T, addr, apiKey, contact string) voicemail.Record {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var rec voicemail.Record
		if apiGet(t, addr, apiKey, "/v1/voicemails/"+url.PathEscape(contact), &rec) == http.StatusOK && rec.Status != voicemail.StatusQueued {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("voicemail %s still %q", contact, rec.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// vmx serve reads contact records from a Kinesis stream (kinesis-local):
// a voicemail's record written twice, a record without a flag and an
// unreadable record give one delivered voicemail.
func TestServeFromKinesis(t *testing.T) {
	ks := kinesistest.Start(t)
	ctx := context.Background()
	if _, err := ks.CreateStream(ctx, "ctr", 2); err != nil {
		t.Fatal(err)
	}
	contact := "ee000000-0000-4000-8000-000000000001"
	sim := kvssim.New(kvssim.Options{})
	call := newKVSCall(t, sim, "s", contact, time.Date(2026, 1, 4, 12, 0, 0, 0, time.UTC), 2, 9)
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	hooks := newHookLog("crash-test-secret")
	hookSrv := httptest.NewServer(hooks)
	defer hookSrv.Close()

	kc := ks.Client()
	for i, data := range [][]byte{call.record(contact, "1"), []byte("garbage"), call.record("ee000000-0000-4000-8000-000000000002", "0"), call.record(contact, "1")} {
		if _, err := kc.PutRecord(ctx, &awskinesis.PutRecordInput{StreamName: aws.String("ctr"), Data: data, PartitionKey: aws.String(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	addr := freePort(t)
	serveInProcess(t, map[string]string{
		"VMX_DATA_DIR": t.TempDir(), "VMX_LISTEN": addr, "VMX_API_KEY": "kinesis-test-api-key",
		"VMX_WEBHOOK_URL": hookSrv.URL, "VMX_WEBHOOK_SECRET": "crash-test-secret", "VMX_KVS_ENDPOINT": simSrv.URL,
		"VMX_KINESIS_STREAM": "ctr", "VMX_KINESIS_ENDPOINT": ks.Endpoint, "VMX_KINESIS_INITIAL_POSITION": "trim_horizon",
		"VMX_AWS_REGION": "us-east-1", "VMX_LOG_LEVEL": "warn",
	})
	if rec := waitVoicemail(t, addr, "kinesis-test-api-key", contact); rec.Status != voicemail.StatusDelivered {
		t.Fatalf("voicemail from Kinesis %s: %s", rec.Status, rec.Error)
	}
	time.Sleep(300 * time.Millisecond)
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	if len(hooks.posts) != 1 || len(hooks.posts[contact]) != 1 {
		t.Fatalf("webhooks %v, want one for %s", hooks.posts, contact)
	}
}

// vmx serve configured for S3 (VMX_BUCKET, VMX_S3_ENDPOINT,
// VMX_S3_PATH_STYLE) stores the caller's audio as a WAV object in the
// bucket, and the delivered media link redirects to a presigned GET of
// exactly that object; a tampered link is refused. The webhook's first
// answer is a 503: the voicemail shows that attempt's error. A record
// whose ContactId cannot be in a link is stored as failed, and one whose
// ContactId cannot even be stored is refused.
func TestServeOnS3(t *testing.T) {
	t.Run("gofakes3", func(t *testing.T) { testServeOnS3(t, blobtest.Gofakes3(t)) })
	t.Run("versitygw", func(t *testing.T) { testServeOnS3(t, blobtest.Versitygw(t)) })
}

func testServeOnS3(t *testing.T, s3srv *blobtest.S3Server) {
	bucket := s3srv.NewBucket(t)
	contact := "ee000000-0000-4000-8000-000000000003"
	sim := kvssim.New(kvssim.Options{})
	call := newKVSCall(t, sim, "s", contact, time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC), 3, 11)
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	hooks := newHookLog("s3-test-webhook-secret")
	var busy atomic.Bool
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if busy.CompareAndSwap(false, true) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		hooks.ServeHTTP(w, r)
	}))
	defer hookSrv.Close()

	t.Setenv("AWS_ACCESS_KEY_ID", s3srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3srv.SecretKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	addr, apiKey := freePort(t), "s3-test-api-key-0123"
	serveInProcess(t, map[string]string{
		"VMX_DATA_DIR": t.TempDir(), "VMX_LISTEN": addr, "VMX_API_KEY": apiKey,
		"VMX_WEBHOOK_URL": hookSrv.URL, "VMX_WEBHOOK_SECRET": "s3-test-webhook-secret", "VMX_KVS_ENDPOINT": simSrv.URL,
		"VMX_BUCKET": bucket, "VMX_S3_ENDPOINT": s3srv.Endpoint, "VMX_S3_PATH_STYLE": "true",
		"VMX_AWS_REGION": s3srv.Region, "VMX_LOG_LEVEL": "warn",
	})

	body := bytes.Join([][]byte{call.record(contact, "1"), call.record("a b", "1"), call.record("a\x00b", "1")}, []byte("\n"))
	var sum struct {
		Accepted, Invalid int
		Results           []struct{ ContactID, Outcome, Reason string }
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/ctr", bytes.NewReader(body))
		req.Header.Set("X-API-Key", apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&sum)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("POST /v1/ctr: %d: %v", resp.StatusCode, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST /v1/ctr: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if sum.Accepted != 1 || sum.Invalid != 2 || len(sum.Results) != 3 || sum.Results[2].ContactID != "" ||
		!strings.Contains(sum.Results[2].Reason, `ContactId "a\x00b" cannot identify a voicemail`) {
		t.Fatalf("intake %+v", sum)
	}

	rec := waitVoicemail(t, addr, apiKey, contact)
	if rec.Status != voicemail.StatusDelivered || !strings.HasPrefix(rec.AudioKey, "recordings/2026/01/05/") {
		t.Fatalf("voicemail %s (%s), audio key %q", rec.Status, rec.Error, rec.AudioKey)
	}
	if got := rec.StepErrors["deliver:webhook"]; got.Error != "deliver webhook: webhook: 503 Service Unavailable: busy" || got.Attempt != 1 {
		t.Fatalf("step errors %+v", rec.StepErrors)
	}
	// The object in the bucket is a WAV of the caller's audio.
	obj, err := s3srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(rec.AudioKey)})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(call.pcm)
	if len(stored) != wav.HeaderSize+len(call.pcm) || sha(stored[wav.HeaderSize:]) != hex.EncodeToString(want[:]) || rec.AudioSHA != hex.EncodeToString(want[:]) {
		t.Fatalf("object %s: %d bytes, PCM %s; want %d bytes, PCM %x", rec.AudioKey, len(stored), sha(stored[min(len(stored), wav.HeaderSize):]), wav.HeaderSize+len(call.pcm), want)
	}
	if _, err := wav.NewReader(bytes.NewReader(stored)); err != nil {
		t.Fatalf("object %s is not a WAV: %v", rec.AudioKey, err)
	}

	// The link redirects to a presigned GET of the object on the S3 server.
	hooks.mu.Lock()
	if len(hooks.bodies) != 1 || hooks.bodies[0].ContactID != contact {
		hooks.mu.Unlock()
		t.Fatalf("webhooks %+v", hooks.bodies)
	}
	link := hooks.bodies[0].MediaURL
	hooks.mu.Unlock()
	if !strings.HasPrefix(link, "http://"+addr+"/v1/media/"+contact+"?") {
		t.Fatalf("media link %q", link)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	to := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(to, s3srv.Endpoint+"/"+bucket+"/"+rec.AudioKey+"?") || !strings.Contains(to, "X-Amz-Signature=") {
		t.Fatalf("media link answered %d, Location %q", resp.StatusCode, to)
	}
	resp, err = http.Get(to)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, stored) {
		t.Fatalf("presigned GET: %d, %d bytes, want the %d stored", resp.StatusCode, len(got), len(stored))
	}
	tampered := strings.Replace(link, "/v1/media/"+contact, "/v1/media/ee000000-0000-4000-8000-000000000004", 1)
	if resp, err := noRedirect.Get(tampered); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered link: %v %v", resp, err)
	}

	// The ContactId that cannot be in a link is a failed voicemail.
	var bad voicemail.Record
	if code := apiGet(t, addr, apiKey, "/v1/voicemails/"+url.PathEscape("a b"), &bad); code != http.StatusOK ||
		bad.Status != voicemail.StatusFailed || bad.FailedStep != "intake" || !strings.Contains(bad.Error, `ContactId "a b" is not a contact ID`) {
		t.Fatalf("voicemail \"a b\": %d %+v", code, bad)
	}
}
