package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/vmx-dev/vmx/internal/kinesis/kinesistest"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/synth"
)

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
	at := time.Date(2026, 1, 4, 12, 0, 0, 0, time.UTC)
	var w bytes.Buffer
	synth.WriteWAV(&w, synth.Spec{Seconds: 2, Prompt: 0.3, Seed: 9, ContactID: contact, Start: at})
	sim := kvssim.New(kvssim.Options{})
	src, _ := kvssim.FromWAV(&w, kvssim.Contact{ContactID: contact, Start: at})
	sim.AddStream("s", src)
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	arn, _ := sim.StreamARN("s")
	frags, _ := sim.Fragments("s")
	hooks := newHookLog("crash-test-secret")
	hookSrv := httptest.NewServer(hooks)
	defer hookSrv.Close()

	record := func(id, flag string) []byte {
		b, _ := json.Marshal(map[string]any{
			"ContactId": id, "Channel": "VOICE", "InitiationTimestamp": at.Format(time.RFC3339),
			"InstanceARN": "arn:aws:connect:us-east-1:111122223333:instance/11111111-2222-3333-4444-555555555555",
			"Attributes":  map[string]string{"vmx_flag": flag, "vmx_from": "+15555550199", "vmx_lang": "en-US"},
			"Recordings": []map[string]any{{"Location": arn, "StorageType": "KINESIS_VIDEO_STREAM", "ParticipantType": "CUSTOMER",
				"FragmentStartNumber": frags[0].Number, "FragmentStopNumber": frags[len(frags)-1].Number,
				"StartTimestamp": at.Format(time.RFC3339), "StopTimestamp": at.Add(time.Minute).Format(time.RFC3339)}},
		})
		return b
	}
	kc := ks.Client()
	for i, data := range [][]byte{record(contact, "1"), []byte("garbage"), record("ee000000-0000-4000-8000-000000000002", "0"), record(contact, "1")} {
		if _, err := kc.PutRecord(ctx, &awskinesis.PutRecordInput{StreamName: aws.String("ctr"), Data: data, PartitionKey: aws.String(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	addr := freePort(t)
	env := map[string]string{
		"VMX_DATA_DIR": dir, "VMX_LISTEN": addr, "VMX_API_KEY": "kinesis-test-api-key",
		"VMX_WEBHOOK_URL": hookSrv.URL, "VMX_WEBHOOK_SECRET": "crash-test-secret", "VMX_KVS_ENDPOINT": simSrv.URL,
		"VMX_KINESIS_STREAM": "ctr", "VMX_KINESIS_ENDPOINT": ks.Endpoint, "VMX_KINESIS_INITIAL_POSITION": "trim_horizon",
		"VMX_AWS_REGION": "us-east-1", "VMX_LOG_LEVEL": "warn",
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan result, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := Main(sctx, []string{"serve"}, &Env{Stdin: bytes.NewReader(nil), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }})
		done <- result{code, stdout.String(), stderr.String()}
	}()
	defer func() {
		cancel()
		if r := <-done; r.code != 0 {
			t.Errorf("serve exited %d: %s", r.code, r.stderr)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/voicemails/"+contact, nil)
		req.Header.Set("X-API-Key", "kinesis-test-api-key")
		var rec struct{ Status string }
		if resp, err := http.DefaultClient.Do(req); err == nil {
			json.NewDecoder(resp.Body).Decode(&rec)
			resp.Body.Close()
		}
		if rec.Status == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("voicemail from Kinesis not delivered (status %q)", rec.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	if len(hooks.posts) != 1 || len(hooks.posts[contact]) != 1 {
		t.Fatalf("webhooks %v, want one for %s", hooks.posts, contact)
	}
}
