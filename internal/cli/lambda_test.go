package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmx-dev/vmx/internal/awsstate"
	"github.com/vmx-dev/vmx/internal/awsstate/awsstatetest"
	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/media"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
)

// The presign function answers Connect's flow-invocation event with a
// link that vmx's media handler accepts, valid for connect.guided_link_ttl.
func TestLambdaPresign(t *testing.T) {
	secret := strings.Repeat("s", 40)
	cfg := config.Resolve(config.Options{Getenv: func(k string) string {
		return map[string]string{"VMX_LINK_SECRET": secret, "VMX_PUBLIC_URL": "https://vmx.example.com", "VMX_CONNECT_GUIDED_LINK_TTL": "15m"}[k]
	}})
	h, err := lambdaHandler(cfg, "presign")
	if err != nil {
		t.Fatal(err)
	}
	const contact = "5f2c0a4e-1b3d-4c5e-8f70-9a1b2c3d4e5f"
	event := `{"Name":"ContactFlowEvent","Details":{"ContactData":{"ContactId":"aaaaaaaa-0000-4000-8000-000000000001",
		"PreviousContactId":"` + contact + `","Attributes":{"vmx3_recording_key":"recordings/2026/01/01/` + contact + `.wav"}},"Parameters":{}}}`
	out, err := h.Invoke(context.Background(), []byte(event))
	if err != nil {
		t.Fatal(err)
	}
	var resp map[string]string
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	u, err := url.Parse(resp["vmx3_presigned_url"])
	if err != nil || !strings.HasPrefix(u.String(), "https://vmx.example.com/v1/media/"+contact+"?") {
		t.Fatalf("response %v", resp)
	}
	exp, _ := strconv.ParseInt(u.Query().Get("exp"), 10, 64)
	if err := (media.Signer{Secret: []byte(secret)}).Verify(contact, exp, u.Query().Get("sig"), time.Now()); err != nil {
		t.Fatalf("link does not verify: %v", err)
	}
	if left := time.Until(time.Unix(exp, 0)); left < 14*time.Minute || left > 15*time.Minute+time.Second || resp["expires_in"] != "900" {
		t.Fatalf("link valid for %v, expires_in %q", left, resp["expires_in"])
	}

	if _, err := lambdaHandler(config.Default(), "presign"); err == nil || !strings.Contains(err.Error(), "VMX_LINK_SECRET") {
		t.Fatalf("presign without a link secret: %v", err)
	}
	if _, err := lambdaHandler(cfg, "nope"); err == nil || !strings.Contains(err.Error(), `unknown function "nope"`) {
		t.Fatalf("unknown function: %v", err)
	}
	if r := run(t, map[string]string{"VMX_LINK_SECRET": secret}, "lambda", "presign"); r.code != 1 || !strings.Contains(r.stderr, "AWS_LAMBDA_RUNTIME_API") {
		t.Fatalf("outside Lambda: exit %d %q", r.code, r.stderr)
	}
}

// The Lambda bootstrap runs the function its Handler setting names; any
// other name, or the bootstrap outside Lambda, runs the command line.
func TestArgs(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	inLambda := map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "_HANDLER": "step"}
	for _, tc := range []struct {
		argv []string
		env  map[string]string
		want string
	}{
		{[]string{"/var/task/bootstrap"}, inLambda, "lambda step"},
		{[]string{"/var/task/bootstrap"}, map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, "lambda"},
		{[]string{"./bootstrap", "version"}, inLambda, "version"},
		{[]string{"/var/task/bootstrap"}, nil, ""},
		{[]string{"/usr/bin/vmx", "lambda", "ctr"}, inLambda, "lambda ctr"},
	} {
		if got := strings.Join(Args(tc.argv, env(tc.env)), " "); got != tc.want {
			t.Errorf("Args(%q) = %q, want %q", tc.argv, got, tc.want)
		}
	}
}

// The pipeline's functions name every setting they need and lack.
func TestLambdaNeeds(t *testing.T) {
	r := run(t, map[string]string{"VMX_LAMBDA_STEP_QUEUE": "https://sqs.us-east-1.amazonaws.com/111122223333/vmx-steps", "VMX_BUCKET": "vmx"}, "lambda", "ctr")
	if r.code != 1 || !strings.Contains(r.stderr, "VMX_LAMBDA_TABLE") || strings.Contains(r.stderr, "VMX_LAMBDA_STEP_QUEUE") || strings.Contains(r.stderr, "VMX_BUCKET") {
		t.Fatalf("ctr without a table: exit %d %q", r.code, r.stderr)
	}
	for _, fn := range []string{"ctr", "step", "media"} {
		_, err := lambdaHandler(config.Default(), fn)
		for _, name := range []string{"VMX_LAMBDA_TABLE", "VMX_LAMBDA_STEP_QUEUE", "VMX_BUCKET"} {
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s without settings: %v, want %s named", fn, err, name)
			}
		}
	}
	if _, err := lambdaHandler(config.Default(), "transcribe-event"); err == nil || strings.Contains(err.Error(), "VMX_BUCKET") {
		t.Errorf("transcribe-event needs no bucket: %v", err)
	}
	cfg := config.Resolve(config.Options{Getenv: func(k string) string {
		return map[string]string{"VMX_LAMBDA_TABLE": "vmx", "VMX_LAMBDA_STEP_QUEUE": "https://sqs.us-east-1.amazonaws.com/111122223333/vmx-steps", "VMX_BUCKET": "vmx"}[k]
	}})
	if _, err := lambdaHandler(cfg, "media"); err == nil || !strings.Contains(err.Error(), "VMX_LINK_SECRET") || !strings.Contains(err.Error(), "VMX_LAMBDA_LINK_SECRET_ARN") {
		t.Errorf("media without a link secret: %v", err)
	}
}

// fakeSecretsManager answers GetSecretValue for one secret, as Secrets
// Manager's JSON protocol does.
func fakeSecretsManager(t *testing.T, arn, secret string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ SecretId string }
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || in.SecretId != arn {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ARN": arn, "Name": "vmx-link-secret", "SecretString": secret,
			"VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1767225600.0})
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDVMXLAMBDA")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "vmx-lambda-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// With lambda.link_secret_arn, links are signed with the secret Secrets
// Manager holds.
func TestLambdaLinkSecretARN(t *testing.T) {
	const arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:vmx-link-AbCdEf"
	secret := strings.Repeat("k", 48)
	fakeSecretsManager(t, arn, secret)
	cfg := config.Resolve(config.Options{Getenv: func(k string) string {
		return map[string]string{"VMX_LAMBDA_LINK_SECRET_ARN": arn, "VMX_LINK_SECRET": strings.Repeat("x", 40),
			"VMX_PUBLIC_URL": "https://vmx.example.com", "VMX_AWS_REGION": "us-east-1"}[k]
	}})
	h, err := lambdaHandler(cfg, "presign")
	if err != nil {
		t.Fatal(err)
	}
	const contact = "5f2c0a4e-1b3d-4c5e-8f70-9a1b2c3d4e5f"
	out, err := h.Invoke(context.Background(), []byte(`{"Name":"ContactFlowEvent","Details":{"ContactData":{"ContactId":"aaaaaaaa-0000-4000-8000-000000000001",
		"PreviousContactId":"`+contact+`","Attributes":{}},"Parameters":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var resp map[string]string
	json.Unmarshal(out, &resp)
	u, err := url.Parse(resp["vmx3_presigned_url"])
	if err != nil {
		t.Fatalf("answer %s", out)
	}
	exp, _ := strconv.ParseInt(u.Query().Get("exp"), 10, 64)
	if err := (media.Signer{Secret: []byte(secret)}).Verify(contact, exp, u.Query().Get("sig"), time.Now()); err != nil {
		t.Fatalf("link not signed with the secret from Secrets Manager: %v", err)
	}

	cfg.Lambda.LinkSecretARN += "-gone"
	if _, err := lambdaHandler(cfg, "presign"); err == nil || !strings.Contains(err.Error(), "VMX_LAMBDA_LINK_SECRET_ARN") || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("missing secret: %v", err)
	}
}

// The pipeline's functions as the template deploys them, on DynamoDB and
// SQS (wire-level fakes) and S3 (gofakes3): a contact record from Kinesis
// is stored with its first step; the step function cuts the voicemail
// out of Connect's IVR recording into vmx's bucket and sends the next
// step; Transcribe's job state change sends the transcribe step again;
// and the media link redirects to the recording.
func TestLambdaPipeline(t *testing.T) {
	db, queue, s3srv := awsstatetest.NewDynamoDB(t), awsstatetest.NewSQS(t), blobtest.Gofakes3(t)
	qu, _ := url.Parse(queue.QueueURL())
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", db.URL())
	t.Setenv("AWS_ENDPOINT_URL_SQS", qu.Scheme+"://"+qu.Host)
	t.Setenv("AWS_ACCESS_KEY_ID", awsstatetest.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "awsstatetest-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("TMPDIR", t.TempDir()) // the functions' /tmp
	ctx := context.Background()
	s3c := s3srv.Client()
	for _, b := range []string{"vmx", "connect"} {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	// Connect's IVR recording: the greeting, then the caller from 1 s.
	const contact = "dd000000-0000-4000-8000-000000000001"
	start := time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC)
	pcm := make([]byte, 4*16000)
	for i := range pcm {
		pcm[i] = byte(i * 31)
	}
	var ivr bytes.Buffer
	w, _ := wav.NewWriter(&ivr, wav.Telephone, int64(len(pcm)))
	w.Write(pcm)
	w.Close()
	key := "connect/alias/CallRecordings/2026/01/03/" + contact + "_20260103T10:00_UTC.wav"
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("connect"), Key: aws.String(key), Body: bytes.NewReader(ivr.Bytes())}); err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("s", 40)
	settings := map[string]string{
		"VMX_LAMBDA_TABLE": "vmx-voicemails", "VMX_LAMBDA_STEP_QUEUE": queue.QueueURL(), "VMX_BUCKET": "vmx",
		"VMX_S3_ENDPOINT": s3srv.Endpoint, "VMX_S3_PATH_STYLE": "true", "VMX_AWS_REGION": awsstatetest.Region,
		"VMX_LINK_SECRET": secret, "VMX_PUBLIC_URL": "https://media.example.com", "VMX_WEBHOOK_URL": "http://127.0.0.1:9/hook", "VMX_WEBHOOK_SECRET": "hook-secret",
	}
	handler := func(name string) func(event string) []byte {
		cfg := config.Resolve(config.Options{Getenv: func(k string) string { return settings[k] }})
		h, err := lambdaHandler(cfg, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return func(event string) []byte {
			out, err := h.Invoke(ctx, []byte(event))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return out
		}
	}
	state, err := awsstate.New(db.Client(), queue.Client(), awsstate.Config{Table: "vmx-voicemails", QueueURL: queue.QueueURL()})
	if err != nil {
		t.Fatal(err)
	}
	sent := func(want ...pipeline.Job) {
		t.Helper()
		var got, wantBodies []string
		for _, m := range queue.Sent() {
			got = append(got, m.Body)
		}
		for _, j := range want {
			b, _ := awsstate.EncodeJob(j)
			wantBodies = append(wantBodies, b)
		}
		if strings.Join(got, "\n") != strings.Join(wantBodies, "\n") {
			t.Fatalf("sent %q, want %q", got, wantBodies)
		}
	}

	record, _ := json.Marshal(map[string]any{
		"ContactId": contact, "Channel": "VOICE", "InitiationTimestamp": start.Add(-30 * time.Second).Format(time.RFC3339),
		"InstanceARN": "arn:aws:connect:us-east-1:111122223333:instance/11111111-2222-3333-4444-555555555555",
		"Attributes": map[string]string{"vmx3_flag": "1", "vmx3_from": "+15555550100", "vmx3_lang": "en-US",
			"vmx3_timestamp": start.Add(time.Second).Format(time.RFC3339)},
		"Recordings": []map[string]any{{"Location": "connect/" + key, "StorageType": "S3", "ParticipantType": "IVR", "MediaStreamType": "AUDIO",
			"StartTimestamp": start.Format(time.RFC3339), "StopTimestamp": start.Add(4 * time.Second).Format(time.RFC3339)}},
	})
	out := handler("ctr")(`{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"` + contact + `",
		"sequenceNumber":"49590338271490256608559692538361571095921575989136588898","data":"` + base64.StdEncoding.EncodeToString(record) + `",
		"approximateArrivalTimestamp":1767434405.123},"eventSource":"aws:kinesis","eventVersion":"1.0",
		"eventID":"shardId-000000000000:49590338271490256608559692538361571095921575989136588898","eventName":"aws:kinesis:record",
		"invokeIdentityArn":"arn:aws:iam::111122223333:role/vmx-ctr","awsRegion":"us-east-1",
		"eventSourceARN":"arn:aws:kinesis:us-east-1:111122223333:stream/connect-ctr"}]}`)
	if strings.Contains(string(out), "itemIdentifier") {
		t.Fatalf("ctr: %s", out)
	}
	if rec, err := state.Get(ctx, contact); err != nil || rec.Status != voicemail.StatusQueued || rec.Audio.Kind != voicemail.AudioS3 {
		t.Fatalf("stored %+v %v", rec, err)
	}
	sent(pipeline.AudioArgs{ContactID: contact, Run: 1})

	var recs []map[string]any
	for _, m := range queue.Receive() {
		recs = append(recs, map[string]any{"messageId": m.ID, "receiptHandle": m.ReceiptHandle, "body": m.Body,
			"attributes": map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.Receives)}, "eventSource": "aws:sqs",
			"eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:" + awsstatetest.QueueName, "awsRegion": "us-east-1"})
	}
	event, _ := json.Marshal(map[string]any{"Records": recs})
	if out := handler("step")(string(event)); strings.Contains(string(out), "itemIdentifier") {
		t.Fatalf("step: %s", out)
	}
	rec, err := state.Get(ctx, contact)
	if err != nil || !strings.HasPrefix(rec.AudioKey, "recordings/2026/01/03/") || rec.DurationMS != 3000 {
		t.Fatalf("after the audio step %+v %v", rec, err)
	}
	sent(pipeline.AudioArgs{ContactID: contact, Run: 1}, pipeline.TranscribeArgs{ContactID: contact, Run: 1})

	handler("transcribe-event")(`{"version":"0","id":"1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d","detail-type":"Transcribe Job State Change",
		"source":"aws.transcribe","account":"111122223333","time":"2026-01-03T10:02:00Z","region":"us-east-1","resources":[],
		"detail":{"TranscriptionJobName":"vmx_` + contact + `","TranscriptionJobStatus":"COMPLETED"}}`)
	// The transcribe step is still queued: the FIFO queue takes the
	// re-enqueued step as a repeat and keeps one.
	sent(pipeline.AudioArgs{ContactID: contact, Run: 1}, pipeline.TranscribeArgs{ContactID: contact, Run: 1})
	if n := queue.Calls("SendMessage"); n != 3 {
		t.Fatalf("SendMessage called %d times, want 3 (the event re-enqueues the step)", n)
	}

	link, _ := (media.Signer{Secret: []byte(secret), BaseURL: settings["VMX_PUBLIC_URL"]}).URL(contact, time.Now().Add(time.Hour))
	lu, _ := url.Parse(link)
	out = handler("media")(`{"version":"2.0","routeKey":"$default","rawPath":"` + lu.Path + `","rawQueryString":"` + lu.RawQuery + `",
		"headers":{"host":"abcdefg.lambda-url.us-east-1.on.aws","user-agent":"curl/8.5.0"},"requestContext":{"accountId":"anonymous",
		"apiId":"abcdefg","domainName":"abcdefg.lambda-url.us-east-1.on.aws","domainPrefix":"abcdefg","http":{"method":"GET",
		"path":"` + lu.Path + `","protocol":"HTTP/1.1","sourceIp":"203.0.113.7","userAgent":"curl/8.5.0"},"requestId":"r1",
		"routeKey":"$default","stage":"$default","time":"03/Jan/2026:10:05:00 +0000","timeEpoch":1767434700000},"isBase64Encoded":false}`)
	var resp struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
	}
	json.Unmarshal(out, &resp)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Headers["Location"], s3srv.Endpoint) {
		t.Fatalf("media: %s", out)
	}
	got, err := http.Get(resp.Headers["Location"])
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	r, err := wav.NewReader(got.Body)
	if err != nil {
		t.Fatalf("presigned GET %s: %v", got.Status, err)
	}
	data, _ := io.ReadAll(r)
	if sha256.Sum256(data) != sha256.Sum256(pcm[16000:]) {
		t.Fatal("the media link does not serve the caller's audio from the voicemail's timestamp")
	}
}
