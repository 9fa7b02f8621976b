package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/wav"
)

// The recording function needs S3 and PostgreSQL, and says so.
func TestLambdaRecordingNeeds(t *testing.T) {
	_, err := lambdaHandler(config.Default(), "recording")
	if err == nil || !strings.Contains(err.Error(), "VMX_BUCKET") || !strings.Contains(err.Error(), "postgres://") {
		t.Fatalf("recording without a bucket and on SQLite: %v", err)
	}
}

// vmx lambda recording records a call from Connect's flow event: KVS
// (the simulator, checking signatures) to S3 (gofakes3) and PostgreSQL.
func TestLambdaRecording(t *testing.T) {
	pg := os.Getenv("VMX_TEST_POSTGRES_URL")
	if pg == "" {
		t.Skip("VMX_TEST_POSTGRES_URL is not set")
	}
	const (
		key, secret = "AKIDVMXRECORDING", "vmx-recording-secret"
		bucket      = "calls"
	)
	t.Setenv("AWS_ACCESS_KEY_ID", key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	from, to := make([]byte, 3*16000), make([]byte, 3*16000)
	synth.NewCall(7, 1).Read(from, to)
	sim := kvssim.New(kvssim.Options{Credentials: &kvssim.Credentials{AccessKeyID: key, SecretAccessKey: secret}})
	if err := sim.AddStream("call", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA})); err != nil {
		t.Fatal(err)
	}
	kvsSrv := httptest.NewServer(sim)
	defer kvsSrv.Close()
	arn, _ := sim.StreamARN("call")
	frags, _ := sim.Fragments("call")

	s3srv := blobtest.Gofakes3(t)
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")})
	if _, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	dsn := storetest.Postgres(t, pg)
	cfg := config.Resolve(config.Options{Getenv: func(k string) string {
		return map[string]string{"VMX_BUCKET": bucket, "VMX_S3_ENDPOINT": s3srv.Endpoint, "VMX_S3_PATH_STYLE": "true",
			"VMX_KVS_ENDPOINT": kvsSrv.URL, "VMX_DB": dsn, "AWS_REGION": "us-east-1", "VMX_DEFAULT_LANGUAGE": "en-GB"}[k]
	}})
	h, err := lambdaHandler(cfg, "recording")
	if err != nil {
		t.Fatal(err)
	}
	event := `{"Name":"ContactFlowEvent","Details":{"ContactData":{"ContactId":"` + contactA + `",
		"CustomerEndpoint":{"Address":"+15555550123","Type":"TELEPHONE_NUMBER"},
		"MediaStreams":{"Customer":{"Audio":{"StreamARN":"` + arn + `","StartFragmentNumber":"` + frags[0].Number + `","StartTimestamp":"1767225600000"}}},
		"Attributes":{"streamAudioToCustomer":"false"}},"Parameters":{}}}`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := h.Invoke(ctx, []byte(event))
	if err != nil {
		t.Fatal(err)
	}
	var resp map[string]string
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	k := resp["from_customer_key"]
	if resp["result"] != "completed" || !strings.HasPrefix(k, "call-recordings/"+contactA+"_") || resp["to_customer_key"] != "" {
		t.Fatalf("answer %v", resp)
	}
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	r, err := wav.NewReader(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, from) {
		t.Fatalf("stored %d bytes, want the %d the customer said", len(got), len(from))
	}
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	row, err := db.GetRecording(ctx, contactA)
	if err != nil || row.CustomerNumber != "+15555550123" || !row.CallTime.Equal(time.UnixMilli(1767225600000)) {
		t.Fatalf("contact details %+v %v", row, err)
	}
}
