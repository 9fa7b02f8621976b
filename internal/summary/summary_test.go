package summary

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/vmx-dev/vmx/internal/voicemail"
)

// converseRequest is the Converse request body as Bedrock receives it.
type converseRequest struct {
	Messages []struct {
		Role    string
		Content []struct{ Text string }
	}
	System          []struct{ Text string }
	InferenceConfig struct {
		MaxTokens   int32
		Temperature float64
	}
}

// fakeBedrock speaks Bedrock Runtime's Converse: POST /model/{id}/converse.
type fakeBedrock struct {
	srv *httptest.Server

	mu       sync.Mutex
	paths    []string
	auth     []string
	requests []converseRequest
	status   int
	header   map[string]string
	body     string
}

func newFakeBedrock(t *testing.T, status int, header map[string]string, body string) *fakeBedrock {
	f := &fakeBedrock{status: status, header: header, body: body}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		raw, _ := io.ReadAll(r.Body)
		var req converseRequest
		if r.Method != http.MethodPost || json.Unmarshal(raw, &req) != nil {
			w.Header().Set("X-Amzn-ErrorType", "ValidationException")
			w.WriteHeader(400)
			io.WriteString(w, `{"message":"bad request"}`)
			return
		}
		f.paths = append(f.paths, r.URL.Path)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.requests = append(f.requests, req)
		for k, v := range f.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBedrock) summarizer(t *testing.T, cfg Config) *Summarizer {
	t.Helper()
	cfg.Endpoint = f.srv.URL
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	client := NewClient(awsCfg, cfg, func(o *bedrockruntime.Options) { o.RetryMaxAttempts = 1 })
	s, err := New(cfg, client, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func record() *voicemail.Record {
	return &voicemail.Record{
		Request: voicemail.Request{
			ContactID: "c-1", Prefix: "vmx3_", Caller: "+15555550100", Language: "es-US",
			Attributes: map[string]string{"vmx3_flag": "1"},
		},
		Transcript: "Hola, soy Ana de Acme. Llámeme al 555 555 0123 por la factura 4411.",
	}
}

const okBody = `{
  "output": {"message": {"role": "assistant", "content": [
    {"text": "Ana de Acme llama por la factura 4411. "},
    {"text": " Pide que la llamen al 555 555 0123."}
  ]}},
  "stopReason": "end_turn",
  "usage": {"inputTokens": 120, "outputTokens": 24, "totalTokens": 144},
  "metrics": {"latencyMs": 310}
}`

func TestSummarize(t *testing.T) {
	f := newFakeBedrock(t, 200, nil, okBody)
	temp := float32(0.1)
	s := f.summarizer(t, Config{Enabled: true, ModelID: "us.amazon.nova-lite-v1:0", Region: "us-west-2", MaxTokens: 150, Temperature: &temp})
	got, err := s.Summarize(context.Background(), record())
	if err != nil {
		t.Fatal(err)
	}
	if want := "Ana de Acme llama por la factura 4411.\nPide que la llamen al 555 555 0123."; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if len(f.requests) != 1 {
		t.Fatalf("%d requests", len(f.requests))
	}
	if f.paths[0] != "/model/us.amazon.nova-lite-v1:0/converse" {
		t.Errorf("path %q", f.paths[0])
	}
	if !strings.Contains(f.auth[0], "/us-west-2/bedrock/aws4_request") {
		t.Errorf("request not signed for region us-west-2: %q", f.auth[0])
	}
	req := f.requests[0]
	if req.InferenceConfig.MaxTokens != 150 || req.InferenceConfig.Temperature < 0.0999 || req.InferenceConfig.Temperature > 0.1001 {
		t.Errorf("inferenceConfig %+v", req.InferenceConfig)
	}
	if len(req.System) != 1 || req.System[0].Text != DefaultSystemPrompt {
		t.Errorf("system %+v", req.System)
	}
	if len(req.Messages) != 1 || req.Messages[0].Role != "user" || len(req.Messages[0].Content) != 1 {
		t.Fatalf("messages %+v", req.Messages)
	}
	user := req.Messages[0].Content[0].Text
	for _, part := range []string{record().Transcript, "+15555550100", "es-US", "<transcript>"} {
		if !strings.Contains(user, part) {
			t.Errorf("user message lacks %q:\n%s", part, user)
		}
	}
}

func TestDefaults(t *testing.T) {
	f := newFakeBedrock(t, 200, nil, okBody)
	s := f.summarizer(t, Config{Enabled: true, ModelID: "amazon.nova-lite-v1:0", SystemPrompt: "Be brief."})
	if _, err := s.Summarize(context.Background(), record()); err != nil {
		t.Fatal(err)
	}
	req := f.requests[0]
	if req.InferenceConfig.MaxTokens != DefaultMaxTokens || req.InferenceConfig.Temperature < 0.1999 || req.InferenceConfig.Temperature > 0.2001 || req.System[0].Text != "Be brief." {
		t.Errorf("request %+v", req)
	}
	if !strings.Contains(f.auth[0], "/us-east-1/bedrock/") {
		t.Errorf("region override applied without Region: %q", f.auth[0])
	}
}

func TestToggle(t *testing.T) {
	for name, tc := range map[string]struct {
		global bool
		attr   *string
		want   bool
	}{
		"global on":               {true, nil, true},
		"global off":              {false, nil, false},
		"contact true":            {false, ptr("true"), true},
		"contact YES":             {false, ptr(" YES "), true},
		"contact false":           {true, ptr("false"), false},
		"contact other declines":  {true, ptr("maybe"), false},
		"contact empty = default": {true, ptr(""), true},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeBedrock(t, 200, nil, okBody)
			s := f.summarizer(t, Config{Enabled: tc.global, ModelID: "m"})
			rec := record()
			if tc.attr != nil {
				rec.Attributes["vmx3_do_genai_summary"] = *tc.attr
			}
			got, err := s.Summarize(context.Background(), rec)
			if err != nil {
				t.Fatal(err)
			}
			if called := len(f.requests) == 1; called != tc.want || (got != "") != tc.want {
				t.Errorf("summary %q after %d requests, want summarised=%v", got, len(f.requests), tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestNothingToSummarise(t *testing.T) {
	f := newFakeBedrock(t, 200, nil, okBody)
	s := f.summarizer(t, Config{Enabled: true, ModelID: "m"})
	for _, rec := range []*voicemail.Record{
		{Request: voicemail.Request{ContactID: "c-2"}, Transcript: "  "},
		{Request: voicemail.Request{ContactID: "c-3"}, Empty: true, Transcript: "[noise]"},
	} {
		if got, err := s.Summarize(context.Background(), rec); got != "" || err != nil {
			t.Errorf("%s: %q, %v", rec.ContactID, got, err)
		}
	}
	if len(f.requests) != 0 {
		t.Fatalf("%d requests for nothing to summarise", len(f.requests))
	}
}

func TestErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		header map[string]string
		body   string
		want   []string
	}{
		"validation": {400, map[string]string{"X-Amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
			`{"message":"The provided model identifier is invalid."}`,
			[]string{"summary: model us.amazon.nova-lite-v1:0: ValidationException: The provided model identifier is invalid.", "check that the model ID"}},
		"throttling": {429, map[string]string{"X-Amzn-ErrorType": "ThrottlingException"},
			`{"message":"Too many requests, please wait before trying again."}`,
			[]string{"ThrottlingException: Too many requests", "quota"}},
		"access denied": {403, map[string]string{"X-Amzn-ErrorType": "AccessDeniedException"},
			`{"message":"You don't have access to the model with the specified model ID."}`,
			[]string{"AccessDeniedException", "bedrock:InvokeModel"}},
		"blocked": {200, nil,
			`{"output":{"message":{"role":"assistant","content":[{"text":"Sorry."}]}},"stopReason":"content_filtered","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}`,
			[]string{"content_filtered: the model's answer was blocked"}},
		"no text": {200, nil,
			`{"output":{"message":{"role":"assistant","content":[]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":0,"totalTokens":1}}`,
			[]string{"end_turn: the model returned no text"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeBedrock(t, tc.status, tc.header, tc.body)
			s := f.summarizer(t, Config{Enabled: true, ModelID: "us.amazon.nova-lite-v1:0"})
			got, err := s.Summarize(context.Background(), record())
			if err == nil || got != "" {
				t.Fatalf("summary %q, err %v", got, err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T %v is not *Error", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestMaxTokensMarksCut(t *testing.T) {
	f := newFakeBedrock(t, 200, nil, `{"output":{"message":{"role":"assistant","content":[{"text":"Ana called about"}]}},"stopReason":"max_tokens","usage":{"inputTokens":1,"outputTokens":5,"totalTokens":6}}`)
	got, err := f.summarizer(t, Config{Enabled: true, ModelID: "m", MaxTokens: 5}).Summarize(context.Background(), record())
	if err != nil || got != "Ana called about …" {
		t.Fatalf("%q, %v", got, err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := Config{Enabled: true, ModelID: "m", Endpoint: srv.URL, Timeout: 100 * time.Millisecond}
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}
	s, err := New(cfg, NewClient(awsCfg, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Summarize(context.Background(), record())
	if err == nil || !strings.Contains(err.Error(), "timeout: no answer within 100ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}

func TestValidate(t *testing.T) {
	hot := float32(1.5)
	for name, tc := range map[string]struct {
		cfg  Config
		want []string
	}{
		"no model":   {Config{}, []string{"model ID must be set"}},
		"bad model":  {Config{ModelID: "nova lite"}, []string{"model ID \"nova lite\""}},
		"bad region": {Config{ModelID: "m", Region: "Virginia"}, []string{"region"}},
		"everything": {Config{ModelID: "m", Endpoint: "ftp://x", MaxTokens: -1, Temperature: &hot, Timeout: -time.Second},
			[]string{"endpoint", "max tokens", "temperature", "timeout"}},
	} {
		err := tc.cfg.Validate()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", name, err, w)
			}
		}
	}
	ok := Config{ModelID: "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0", Region: "us-gov-west-1", Endpoint: "https://bedrock-runtime.us-east-1.amazonaws.com"}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if _, err := New(ok, nil, nil); err == nil {
		t.Error("New without a client accepted")
	}
}
