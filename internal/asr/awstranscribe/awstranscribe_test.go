package awstranscribe

import (
	"context"
	"errors"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/retry"
)

const (
	wavKey  = "recordings/2025/09/13/c1.wav"
	outKey  = "transcripts/2025/09/13/c1.json"
	outURI  = "https://s3.us-east-1.amazonaws.com/out/" + outKey
	jobName = "vmx_c1"
)

// doc is a transcript in Transcribe's output shape, without audio_segments.
const doc = `{"jobName":"vmx_c1","accountId":"111122223333","status":"COMPLETED","results":{
 "language_code":"en-US",
 "transcripts":[{"transcript":"Hi, call me back. Thanks."}],
 "items":[
  {"id":0,"type":"pronunciation","start_time":"0.5","end_time":"0.8","alternatives":[{"confidence":"0.9","content":"Hi"}]},
  {"id":1,"type":"punctuation","alternatives":[{"confidence":"0.0","content":","}]},
  {"id":2,"type":"pronunciation","start_time":"0.9","end_time":"1.1","alternatives":[{"confidence":"0.8","content":"call"}]},
  {"id":3,"type":"pronunciation","start_time":"1.1","end_time":"1.2","alternatives":[{"confidence":"1.0","content":"me"}]},
  {"id":4,"type":"pronunciation","start_time":"1.2","end_time":"1.5","alternatives":[{"confidence":"0.7","content":"back"}]},
  {"id":5,"type":"punctuation","alternatives":[{"confidence":"0.0","content":"."}]},
  {"id":6,"type":"pronunciation","start_time":"3.5","end_time":"3.9","alternatives":[{"confidence":"0.6","content":"Thanks"}]},
  {"id":7,"type":"punctuation","alternatives":[{"confidence":"0.0","content":"."}]}
 ]}}`

// setup returns an engine on a fake Transcribe, its store and its sleeps.
func setup(t *testing.T, cfg Config) (*Engine, *fakeTranscribe, *memStore, *sleeps) {
	t.Helper()
	f, store, sl := newFake(t), &memStore{}, &sleeps{}
	if cfg.Bucket == "" {
		cfg.Bucket = "rec"
	}
	if cfg.OutputBucket == "" {
		cfg.OutputBucket = "out"
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sl.sleep
	}
	e, err := New(f.client(), store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	store.put("out", outKey, doc)
	return e, f, store, sl
}

func completed(fields map[string]any) reply {
	if fields == nil {
		fields = map[string]any{}
	}
	if _, ok := fields["Transcript"]; !ok {
		fields["Transcript"] = map[string]any{"TranscriptFileUri": outURI}
	}
	if _, ok := fields["LanguageCode"]; !ok {
		fields["LanguageCode"] = "en-US"
	}
	return job(jobName, "COMPLETED", fields)
}

func audio() asr.Audio { return asr.Audio{WAVKey: wavKey, SampleRate: 8000} }

func TestStartRequest(t *testing.T) {
	base := map[string]any{
		"TranscriptionJobName": jobName,
		"Media":                map[string]any{"MediaFileUri": "s3://rec/" + wavKey},
		"MediaFormat":          "wav",
		"OutputBucketName":     "out",
		"OutputKey":            outKey,
	}
	with := func(kv map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	tests := map[string]struct {
		cfg      Config
		lang     string
		want     map[string]any
		redacted bool
	}{
		"plain": {Config{}, "en-GB", with(map[string]any{"LanguageCode": "en-GB"}), false},
		"default language": {Config{DefaultLanguage: "fr-CA"}, "",
			with(map[string]any{"LanguageCode": "fr-CA"}), false},
		"vocabulary": {Config{Vocabulary: "vmx-names"}, "en-US", with(map[string]any{"LanguageCode": "en-US",
			"Settings": map[string]any{"VocabularyName": "vmx-names"}}), false},
		"vocabulary of another language": {Config{Vocabulary: "vmx-names"}, "es-US",
			with(map[string]any{"LanguageCode": "es-US"}), false},
		"redaction": {Config{RedactPII: true, PIIEntityTypes: []string{"CREDIT_DEBIT_NUMBER", "PIN"}}, "en-US",
			with(map[string]any{"LanguageCode": "en-US", "ContentRedaction": map[string]any{
				"RedactionType": "PII", "RedactionOutput": "redacted",
				"PiiEntityTypes": []any{"CREDIT_DEBIT_NUMBER", "PIN"}}}), true},
		"redaction of all types": {Config{RedactPII: true}, "es-US",
			with(map[string]any{"LanguageCode": "es-US", "ContentRedaction": map[string]any{
				"RedactionType": "PII", "RedactionOutput": "redacted"}}), true},
		"redaction unsupported language": {Config{RedactPII: true}, "de-DE",
			with(map[string]any{"LanguageCode": "de-DE"}), false},
		"identify language": {Config{IdentifyLanguage: true, LanguageOptions: []string{"en-US", "es-US"},
			Vocabulary: "vmx-names"}, "en-US",
			with(map[string]any{"IdentifyLanguage": true, "LanguageOptions": []any{"en-US", "es-US"},
				"LanguageIdSettings": map[string]any{"en-US": map[string]any{"VocabularyName": "vmx-names"}}}), false},
		"output under a KMS key": {Config{OutputKMSKey: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}, "en-US",
			with(map[string]any{"LanguageCode": "en-US",
				"OutputEncryptionKMSKeyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}), false},
		"identify any language": {Config{IdentifyLanguage: true}, "",
			with(map[string]any{"IdentifyLanguage": true}), false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e, f, _, _ := setup(t, tt.cfg)
			fields := map[string]any{}
			if tt.redacted {
				fields["ContentRedaction"] = map[string]any{"RedactionType": "PII", "RedactionOutput": "redacted"}
			}
			f.on("StartTranscriptionJob", completed(fields))
			j, err := e.Run(context.Background(), audio(), asr.Options{ContactID: "c1", Language: tt.lang})
			if err != nil {
				t.Fatal(err)
			}
			starts := f.requests("StartTranscriptionJob")
			if len(starts) != 1 {
				t.Fatalf("%d starts", len(starts))
			}
			if got := starts[0].Body; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("StartTranscriptionJob body\n got %v\nwant %v", got, tt.want)
			}
			if j.Redacted != tt.redacted || j.Resumed || j.Failed || j.Name != jobName {
				t.Errorf("job %+v", j)
			}
		})
	}
}

func TestTranscribeCompleted(t *testing.T) {
	e, f, store, sl := setup(t, Config{})
	f.on("StartTranscriptionJob", completed(nil))
	r, err := e.Transcribe(context.Background(), audio(), asr.Options{ContactID: "c1", Language: "en-US"})
	if err != nil {
		t.Fatal(err)
	}
	want := &asr.Result{
		Text:   "Hi, call me back. Thanks.",
		Engine: "aws",
		Segments: []asr.Segment{
			{StartMS: 500, EndMS: 1500, Text: "Hi, call me back.", Confidence: 0.85},
			{StartMS: 3500, EndMS: 3900, Text: "Thanks.", Confidence: 0.6},
		},
		SpeechMS: 1400,
	}
	if !sameResult(r, want) {
		t.Errorf("result\n got %+v\nwant %+v", r, want)
	}
	if Failed(r) {
		t.Error("Failed(completed result)")
	}
	if !slices.Equal(store.fetches, []string{"out/" + outKey}) {
		t.Errorf("fetches %q", store.fetches)
	}
	if n := len(f.requests("GetTranscriptionJob")); n != 0 || len(sl.all()) != 0 {
		t.Errorf("%d polls, sleeps %v for a job completed at start", n, sl.all())
	}
	if e.Name() != "aws" {
		t.Errorf("Name() = %q", e.Name())
	}
}

func TestRedactedTranscriptLocation(t *testing.T) {
	e, f, store, _ := setup(t, Config{RedactPII: true})
	const redacted = "transcripts/2025/09/13/redacted-c1.json"
	store.put("out", redacted, strings.Replace(doc, "Hi, call me back.", "Hi, [PII] back.", 1))
	f.on("StartTranscriptionJob", completed(map[string]any{
		"ContentRedaction": map[string]any{"RedactionType": "PII", "RedactionOutput": "redacted"},
		"Transcript":       map[string]any{"RedactedTranscriptFileUri": "https://s3.us-east-1.amazonaws.com/out/" + redacted},
	}))
	j, err := e.Run(context.Background(), audio(), asr.Options{ContactID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if j.Key != redacted || !strings.HasPrefix(j.Result.Text, "Hi, [PII] back.") || !j.Redacted {
		t.Errorf("job %+v, text %q", j, j.Result.Text)
	}
}

func TestConflictReadsExistingJob(t *testing.T) {
	e, f, _, _ := setup(t, Config{})
	f.on("StartTranscriptionJob", apiError(http.StatusBadRequest, "ConflictException",
		"The requested job name already exists. Use a different job name."))
	f.on("GetTranscriptionJob", completed(nil))
	j, err := e.Run(context.Background(), audio(), asr.Options{ContactID: "c1", Language: "en-US"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests("StartTranscriptionJob")); n != 1 {
		t.Errorf("%d starts, want 1 (no restart)", n)
	}
	gets := f.requests("GetTranscriptionJob")
	if len(gets) != 1 || gets[0].Body["TranscriptionJobName"] != jobName {
		t.Errorf("gets %v", gets)
	}
	if !j.Resumed || j.Result.Text != "Hi, call me back. Thanks." {
		t.Errorf("job %+v", j)
	}
}

func TestConflictWithVanishedJobStartsAgain(t *testing.T) {
	e, f, _, _ := setup(t, Config{})
	f.on("StartTranscriptionJob",
		apiError(http.StatusBadRequest, "ConflictException", "The requested job name already exists."),
		completed(nil))
	f.on("GetTranscriptionJob", apiError(http.StatusBadRequest, "BadRequestException",
		"The requested job couldn't be found. Check the job name and try your request again."))
	j, err := e.Run(context.Background(), audio(), asr.Options{ContactID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests("StartTranscriptionJob")); n != 2 || j.Resumed {
		t.Errorf("%d starts, resumed %v; want 2, false", n, j.Resumed)
	}
}

func TestPollsWithBackoff(t *testing.T) {
	e, f, _, sl := setup(t, Config{PollInitial: time.Second, PollMax: 3 * time.Second})
	f.on("StartTranscriptionJob", job(jobName, "IN_PROGRESS", nil))
	f.on("GetTranscriptionJob",
		job(jobName, "IN_PROGRESS", nil),
		job(jobName, "IN_PROGRESS", nil),
		completed(nil))
	r, err := e.Transcribe(context.Background(), audio(), asr.Options{ContactID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(sl.all(), want) {
		t.Errorf("sleeps %v, want %v", sl.all(), want)
	}
	if n := len(f.requests("GetTranscriptionJob")); n != 3 {
		t.Errorf("%d polls, want 3", n)
	}
	if r.Text != "Hi, call me back. Thanks." {
		t.Errorf("text %q", r.Text)
	}
}

func TestPollSurvivesThrottling(t *testing.T) {
	e, f, _, sl := setup(t, Config{PollInitial: time.Second})
	f.on("StartTranscriptionJob", job(jobName, "QUEUED", nil))
	f.on("GetTranscriptionJob",
		apiError(http.StatusBadRequest, "ThrottlingException", "Rate exceeded"),
		apiError(http.StatusInternalServerError, "InternalFailureException", "oops"),
		completed(nil))
	if _, err := e.Transcribe(context.Background(), audio(), asr.Options{ContactID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if n := len(sl.all()); n != 3 {
		t.Errorf("%d sleeps, want 3", n)
	}
}

func TestFailedJobIsDelivered(t *testing.T) {
	e, f, store, _ := setup(t, Config{})
	const reason = "The media format provided does not match the detected media format."
	f.on("StartTranscriptionJob", job(jobName, "IN_PROGRESS", nil))
	f.on("GetTranscriptionJob", job(jobName, "FAILED", map[string]any{"FailureReason": reason}))

	r, err := e.Transcribe(context.Background(), audio(), asr.Options{ContactID: "c1"})
	if err != nil {
		t.Fatalf("Transcribe of a FAILED job: %v; want a result to deliver", err)
	}
	if r.Text != "Transcription failed: "+reason || r.Engine != "aws" || !Failed(r) || r.Empty {
		t.Errorf("result %+v", r)
	}
	j, err := e.Run(context.Background(), audio(), asr.Options{ContactID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if !j.Failed || j.FailureReason != reason || j.Status != "FAILED" {
		t.Errorf("job %+v", j)
	}
	if len(store.fetches) != 0 {
		t.Errorf("fetched %q for a failed job", store.fetches)
	}
}

func TestUnreadableTranscriptIsDelivered(t *testing.T) {
	e, f, store, _ := setup(t, Config{})
	store.put("out", outKey, `{"results":{"transcripts":[{"transcript":"x"}],"items":[{"type":"pronunciation","start_time":"zz"}]}}`)
	f.on("StartTranscriptionJob", completed(nil))
	j, err := e.Run(context.Background(), audio(), asr.Options{ContactID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if !j.Failed || !strings.Contains(j.FailureReason, "unreadable transcript s3://out/"+outKey) || !Failed(j.Result) {
		t.Errorf("job %+v", j)
	}
}

func TestMissingTranscriptRunsJobAgain(t *testing.T) {
	e, f, store, _ := setup(t, Config{})
	const other = "transcripts/elsewhere.json"
	// The existing job points at a transcript that is gone; the new one
	// writes where the engine asks.
	f.on("StartTranscriptionJob",
		apiError(http.StatusBadRequest, "ConflictException", "exists"),
		completed(nil))
	f.on("GetTranscriptionJob", completed(map[string]any{
		"Transcript": map[string]any{"TranscriptFileUri": "s3://out/" + other}}))
	f.on("DeleteTranscriptionJob", reply{http.StatusOK, `{}`})
	j, err := e.Run(context.Background(), audio(), asr.Options{ContactID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if n, d := len(f.requests("StartTranscriptionJob")), len(f.requests("DeleteTranscriptionJob")); n != 2 || d != 1 {
		t.Errorf("%d starts, %d deletes; want 2, 1", n, d)
	}
	if !slices.Equal(store.fetches, []string{"out/" + other, "out/" + outKey}) || j.Resumed {
		t.Errorf("fetches %q, job %+v", store.fetches, j)
	}
}

func TestTimeoutLeavesJobForRetry(t *testing.T) {
	f, store := newFake(t), &memStore{}
	e, err := New(f.client(), store, Config{Bucket: "rec", Timeout: 20 * time.Millisecond,
		RetryDelay: time.Minute, Sleep: func(ctx context.Context, _ time.Duration) error {
			<-ctx.Done()
			return context.Cause(ctx)
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.on("StartTranscriptionJob", job(jobName, "IN_PROGRESS", nil))
	_, err = e.Transcribe(context.Background(), audio(), asr.Options{ContactID: "c1"})
	if d, ok := retry.Delay(err); !ok || d != time.Minute || !strings.Contains(err.Error(), "still IN_PROGRESS") {
		t.Errorf("err %v (delay %v, %v), want retry after 1m", err, d, ok)
	}
	if n := len(f.requests("DeleteTranscriptionJob")); n != 0 {
		t.Errorf("%d deletes", n)
	}
}

func TestCallerCancelIsNotClassified(t *testing.T) {
	e, f, _, _ := setup(t, Config{})
	f.on("StartTranscriptionJob", job(jobName, "IN_PROGRESS", nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Transcribe(ctx, audio(), asr.Options{ContactID: "c1"})
	if !errors.Is(err, context.Canceled) || retry.IsPermanent(err) {
		t.Errorf("err %v", err)
	}
	if _, ok := retry.Delay(err); ok {
		t.Errorf("err %v asks for a delay", err)
	}
}

func TestStartErrorsClassified(t *testing.T) {
	tests := map[string]struct {
		reply     reply
		permanent bool
		later     bool
	}{
		"throttling":      {apiError(http.StatusBadRequest, "ThrottlingException", "Rate exceeded"), false, true},
		"limit exceeded":  {apiError(http.StatusBadRequest, "LimitExceededException", "too many jobs"), false, true},
		"internal":        {apiError(http.StatusInternalServerError, "InternalFailureException", "x"), false, true},
		"bare 503":        {reply{http.StatusServiceUnavailable, ""}, false, true},
		"bare 429":        {reply{http.StatusTooManyRequests, ""}, false, true},
		"bad request":     {apiError(http.StatusBadRequest, "BadRequestException", "1 validation error detected"), true, false},
		"access denied":   {apiError(http.StatusForbidden, "AccessDeniedException", "no"), false, false},
		"unknown 4xx":     {apiError(http.StatusBadRequest, "SomethingElse", "?"), false, false},
		"vocabulary gone": {apiError(http.StatusBadRequest, "BadRequestException", "The requested vocabulary couldn't be found."), true, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e, f, _, _ := setup(t, Config{RetryDelay: 42 * time.Second})
			f.on("StartTranscriptionJob", tt.reply)
			_, err := e.Transcribe(context.Background(), audio(), asr.Options{ContactID: "c1"})
			if err == nil {
				t.Fatal("no error")
			}
			d, later := retry.Delay(err)
			if retry.IsPermanent(err) != tt.permanent || later != tt.later || later && d != 42*time.Second {
				t.Errorf("err %v: permanent %v, delay %v %v; want permanent %v, later %v",
					err, retry.IsPermanent(err), d, later, tt.permanent, tt.later)
			}
			if !strings.Contains(err.Error(), "awstranscribe: start job vmx_c1") {
				t.Errorf("err %q lacks context", err)
			}
		})
	}
}

func TestRunRejectsMissingInput(t *testing.T) {
	e, _, _, _ := setup(t, Config{})
	for _, tc := range []struct {
		a    asr.Audio
		opts asr.Options
	}{
		{audio(), asr.Options{}},
		{asr.Audio{}, asr.Options{ContactID: "c1"}},
	} {
		if _, err := e.Transcribe(context.Background(), tc.a, tc.opts); !retry.IsPermanent(err) {
			t.Errorf("Transcribe(%+v, %+v) = %v, want a permanent error", tc.a, tc.opts, err)
		}
	}
}

func TestDelete(t *testing.T) {
	tests := map[string]struct {
		reply             reply
		ok, perm, delayed bool
	}{
		"deleted":        {reply{http.StatusOK, `{}`}, true, false, false},
		"not found":      {apiError(http.StatusBadRequest, "NotFoundException", "no such job"), true, false, false},
		"already gone":   {apiError(http.StatusBadRequest, "BadRequestException", "The requested job couldn't be found. Check the job name and try your request again."), true, false, false},
		"bad request":    {apiError(http.StatusBadRequest, "BadRequestException", "The job is in a non-terminal state."), false, true, false},
		"throttled":      {apiError(http.StatusBadRequest, "ThrottlingException", "Rate exceeded"), false, false, true},
		"internal error": {apiError(http.StatusInternalServerError, "InternalFailureException", ""), false, false, true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e, f, _, _ := setup(t, Config{})
			f.on("DeleteTranscriptionJob", tt.reply)
			err := e.Delete(context.Background(), "c1")
			_, delayed := retry.Delay(err)
			if (err == nil) != tt.ok || retry.IsPermanent(err) != tt.perm || delayed != tt.delayed {
				t.Errorf("Delete = %v; want ok %v, permanent %v, delayed %v", err, tt.ok, tt.perm, tt.delayed)
			}
			dels := f.requests("DeleteTranscriptionJob")
			if len(dels) != 1 || dels[0].Body["TranscriptionJobName"] != jobName {
				t.Errorf("deletes %v", dels)
			}
		})
	}
}

func TestJobName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"c1", "vmx_c1"},
		{"3f2b1c9e-8a7d-4e6f-9b0a-1c2d3e4f5a6b", "vmx_3f2b1c9e-8a7d-4e6f-9b0a-1c2d3e4f5a6b"},
		{"a/b c:d", "vmx_a_b_c_d"},
		{"é", "vmx___"},
		{"A.b_C-9", "vmx_A.b_C-9"},
		{strings.Repeat("x", 300), "vmx_" + strings.Repeat("x", 196)},
	}
	for _, tt := range tests {
		if got := JobName(tt.in); got != tt.want {
			t.Errorf("JobName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestContactIDFromJobName(t *testing.T) {
	const id = "3f2b1c9e-8a7d-4e6f-9b0a-1c2d3e4f5a6b"
	if got, ok := ContactIDFromJobName(JobName(id)); !ok || got != id {
		t.Errorf("ContactIDFromJobName(JobName(%q)) = %q, %v", id, got, ok)
	}
	for _, name := range []string{"vmx_", "other-job", "VMX_" + id, ""} {
		if got, ok := ContactIDFromJobName(name); ok {
			t.Errorf("ContactIDFromJobName(%q) = %q, true; want false", name, got)
		}
	}
}

func TestOutputKey(t *testing.T) {
	e, _, _, _ := setup(t, Config{})
	p, _, _, _ := setup(t, Config{OutputPrefix: "raw/"})
	tests := []struct {
		e        *Engine
		in, want string
	}{
		{e, wavKey, outKey},
		{e, "recordings/c1.WAV", "transcripts/c1.json"},
		{e, "elsewhere/c1.wav", "transcripts/elsewhere/c1.json"},
		{e, "recordings/c1", "transcripts/c1.json"},
		{p, wavKey, "raw/2025/09/13/c1.json"},
	}
	for _, tt := range tests {
		if got := tt.e.OutputKey(tt.in); got != tt.want {
			t.Errorf("OutputKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := map[string]Config{
		"no bucket":                 {},
		"one language option":       {Bucket: "b", IdentifyLanguage: true, LanguageOptions: []string{"en-US"}},
		"options without identify":  {Bucket: "b", LanguageOptions: []string{"en-US", "es-US"}},
		"redaction with identify":   {Bucket: "b", IdentifyLanguage: true, RedactPII: true},
		"vocabulary not in options": {Bucket: "b", IdentifyLanguage: true, LanguageOptions: []string{"fr-CA", "es-US"}, Vocabulary: "v"},
		"pii types without redact":  {Bucket: "b", PIIEntityTypes: []string{"PIN"}},
		"poll max below initial":    {Bucket: "b", PollInitial: time.Minute, PollMax: time.Second},
		"negative timeout":          {Bucket: "b", Timeout: -time.Second},
		"absolute prefix":           {Bucket: "b", OutputPrefix: "/t/"},
	}
	f := newFake(t)
	for name, cfg := range tests {
		if _, err := New(f.client(), &memStore{}, cfg); err == nil || !strings.HasPrefix(err.Error(), "awstranscribe: invalid configuration") {
			t.Errorf("%s: New = %v, want a configuration error", name, err)
		}
	}
	if _, err := New(nil, &memStore{}, Config{Bucket: "b"}); err == nil {
		t.Error("New with nil client succeeded")
	}
}

func TestS3Location(t *testing.T) {
	tests := []struct {
		uri, bucket, key string
		ok               bool
	}{
		{"https://s3.us-east-1.amazonaws.com/out/transcripts/a.json", "out", "transcripts/a.json", true},
		{"https://s3-us-west-2.amazonaws.com/out/a%20b.json", "out", "a b.json", true},
		{"https://out.s3.eu-west-1.amazonaws.com/t/a.json", "out", "t/a.json", true},
		{"https://my.bucket.s3.amazonaws.com/a.json", "my.bucket", "a.json", true},
		{"s3://out/t/a.json", "out", "t/a.json", true},
		{"https://example.com/a.json", "", "", false},
		{"https://s3.us-east-1.amazonaws.com/out", "", "", false},
		{"ftp://s3.amazonaws.com/out/a", "", "", false},
		{"", "", "", false},
		{"::", "", "", false},
	}
	for _, tt := range tests {
		b, k, ok := s3Location(tt.uri)
		if ok != tt.ok || ok && (b != tt.bucket || k != tt.key) {
			t.Errorf("s3Location(%q) = %q, %q, %v; want %q, %q, %v", tt.uri, b, k, ok, tt.bucket, tt.key, tt.ok)
		}
	}
}

// sameResult compares results, confidences to 1e-9.
func sameResult(a, b *asr.Result) bool {
	if a.Text != b.Text || a.Engine != b.Engine || a.SpeechMS != b.SpeechMS || a.AudioMS != b.AudioMS ||
		a.Empty != b.Empty || len(a.Segments) != len(b.Segments) {
		return false
	}
	for i := range a.Segments {
		x, y := a.Segments[i], b.Segments[i]
		if x.StartMS != y.StartMS || x.EndMS != y.EndMS || x.Text != y.Text || math.Abs(x.Confidence-y.Confidence) > 1e-9 {
			return false
		}
	}
	return true
}
