//go:build linux

package lambdatest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/lambdatest"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/synth"
)

// BenchmarkColdStart starts each vmx function as Lambda would (a new
// process per iteration, the template's memory size, enforced), invokes it
// once and reports Lambda's measures: init-ms (Init Duration), init-MB
// (peak RSS when init ends), invoke-ms (Duration) and peak-MB (Max Memory
// Used over init and the invocation).
func BenchmarkColdStart(b *testing.B) {
	b.Run("presign", func(b *testing.B) {
		cfg := presignConfig(b, presignEnv)
		cfg.MemoryMB, cfg.Timeout = 128, 8*time.Second
		coldStarts(b, cfg, presignEvent(`{}`), func(r map[string]string) bool { return r["contact_id"] == voicemail })
	})
	b.Run("timestamp", func(b *testing.B) {
		cfg := lambdatest.Config{Binary: vmxBinary(b), Handler: "timestamp", MemoryMB: 128, Timeout: 3 * time.Second}
		event := []byte(`{"Name":"ContactFlowEvent","Details":{"ContactData":{"ContactId":"` + voicemail + `"},"Parameters":{}}}`)
		coldStarts(b, cfg, event, func(r map[string]string) bool {
			_, err := time.Parse("2006-01-02T15:04:05Z", r["vmx3_timestamp"])
			return err == nil
		})
	})
	for _, d := range []time.Duration{time.Minute, 5 * time.Minute, 25 * time.Minute} {
		b.Run(fmt.Sprintf("recording/call=%v", d), func(b *testing.B) {
			cfg, event := recordingFunction(b, d)
			coldStarts(b, cfg, event, func(r map[string]string) bool {
				return r["result"] == "completed" && r["duration_ms"] == fmt.Sprint(d.Milliseconds())
			})
		})
	}
}

// coldStarts measures cold starts of cfg invoked with event, whose
// answer, a string map as Connect's flows want, ok checks.
func coldStarts(b *testing.B, cfg lambdatest.Config, event []byte, ok func(map[string]string) bool) {
	coldStartsWith(b, cfg, func(int) []byte { return event }, func(_ int, out []byte) error {
		var resp map[string]string
		if err := json.Unmarshal(out, &resp); err != nil || !ok(resp) {
			return fmt.Errorf("response %s", out)
		}
		return nil
	})
}

// recordingFunction is vmx's call-recording function with its settings:
// KVS (the simulator, checking signatures) holding a call of length d, S3
// (gofakes3) and PostgreSQL (VMX_TEST_POSTGRES_URL, else it skips); and
// Connect's flow event for the call.
func recordingFunction(b *testing.B, d time.Duration) (lambdatest.Config, []byte) {
	pg := os.Getenv("VMX_TEST_POSTGRES_URL")
	if pg == "" {
		b.Skip("VMX_TEST_POSTGRES_URL is not set: the recording function needs PostgreSQL")
	}
	const (
		key, secret = "AKIDLAMBDATEST", "lambdatest-recording-secret"
		bucket      = "calls"
		contact     = "3b9e7c1a-2d4f-4a6b-8c0d-1e2f3a4b5c6d"
	)
	n := int(d.Seconds()) * synth.SampleRate * 2
	from, to := make([]byte, n), make([]byte, n)
	synth.NewCall(7, 1).Read(from, to)
	sim := kvssim.New(kvssim.Options{Credentials: &kvssim.Credentials{AccessKeyID: key, SecretAccessKey: secret}})
	if err := sim.AddStream("call", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contact})); err != nil {
		b.Fatal(err)
	}
	kvsSrv := httptest.NewServer(sim)
	b.Cleanup(kvsSrv.Close)
	arn, _ := sim.StreamARN("call")
	frags, _ := sim.Fragments("call")

	s3srv := blobtest.Gofakes3(b)
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")})
	if _, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		b.Fatal(err)
	}
	cfg := lambdatest.Config{Binary: vmxBinary(b), Handler: "recording",
		FunctionName: "vmx-recording", MemoryMB: 256, Timeout: 900 * time.Second, Env: map[string]string{
			"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "",
			"VMX_BUCKET": bucket, "VMX_S3_ENDPOINT": s3srv.Endpoint, "VMX_S3_PATH_STYLE": "true",
			"VMX_KVS_ENDPOINT": kvsSrv.URL, "VMX_DB": storetest.Postgres(b, pg), "VMX_DEFAULT_LANGUAGE": "en-GB",
		}}
	event, err := json.Marshal(map[string]any{"Name": "ContactFlowEvent", "Details": map[string]any{
		"ContactData": map[string]any{
			"ContactId": contact, "Channel": "VOICE", "InstanceARN": instance,
			"CustomerEndpoint": map[string]string{"Address": "+15555550123", "Type": "TELEPHONE_NUMBER"},
			"MediaStreams": map[string]any{"Customer": map[string]any{"Audio": map[string]string{
				"StreamARN": arn, "StartFragmentNumber": frags[0].Number, "StartTimestamp": "1767225600000"}}},
			"Attributes": map[string]string{"streamAudioToCustomer": "false"},
		},
		"Parameters": map[string]string{},
	}})
	if err != nil {
		b.Fatal(err)
	}
	return cfg, event
}
