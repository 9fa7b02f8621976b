package awstranscribe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/transcribe"
)

// fakeTranscribe speaks Transcribe's JSON 1.1 protocol: POST / with
// X-Amz-Target: Transcribe.<Op>. Each operation answers from a script; the
// last reply of a script repeats.
type fakeTranscribe struct {
	t       *testing.T
	mu      sync.Mutex
	reqs    []fakeRequest
	scripts map[string][]reply
}

type fakeRequest struct {
	Op   string
	Body map[string]any
}

type reply struct {
	status int
	body   string
}

// job answers with a TranscriptionJob; fields are added to it.
func job(name, status string, fields map[string]any) reply {
	j := map[string]any{"TranscriptionJobName": name, "TranscriptionJobStatus": status}
	for k, v := range fields {
		j[k] = v
	}
	b, _ := json.Marshal(map[string]any{"TranscriptionJob": j})
	return reply{http.StatusOK, string(b)}
}

// apiError answers with a Transcribe error.
func apiError(status int, code, msg string) reply {
	return reply{status, fmt.Sprintf(`{"__type":%q,"Message":%q}`, code, msg)}
}

func newFake(t *testing.T) *fakeTranscribe {
	return &fakeTranscribe{t: t, scripts: map[string][]reply{}}
}

// on scripts the replies of op.
func (f *fakeTranscribe) on(op string, replies ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts[op] = replies
}

func (f *fakeTranscribe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "Transcribe.")
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		f.t.Errorf("request %s %s, want POST /", r.Method, r.URL.Path)
	case !ok:
		f.t.Errorf("X-Amz-Target %q", target)
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		f.t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/"):
		f.t.Errorf("Authorization %q", r.Header.Get("Authorization"))
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("%s: body: %v", op, err)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, fakeRequest{op, body})
	script := f.scripts[op]
	var rep reply
	switch len(script) {
	case 0:
		rep = apiError(http.StatusBadRequest, "UnknownOperationException", "not scripted: "+op)
	case 1:
		rep = script[0]
	default:
		rep, f.scripts[op] = script[0], script[1:]
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

// requests returns the requests of op so far.
func (f *fakeTranscribe) requests(op string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.reqs {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// client returns the real SDK client pointed at f, with the SDK's own
// retries off so that each call is one request.
func (f *fakeTranscribe) client() *transcribe.Client {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return transcribe.New(transcribe.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRET", ""),
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
}

// memStore is a Fetcher over a map of "bucket/key" to documents.
type memStore struct {
	mu      sync.Mutex
	objects map[string]string
	fetches []string
}

func (m *memStore) put(bucket, key, doc string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objects == nil {
		m.objects = map[string]string{}
	}
	m.objects[bucket+"/"+key] = doc
}

func (m *memStore) Fetch(_ context.Context, bucket, key string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetches = append(m.fetches, bucket+"/"+key)
	doc, ok := m.objects[bucket+"/"+key]
	if !ok {
		return nil, fmt.Errorf("fetch %s/%s: %w", bucket, key, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader([]byte(doc))), nil
}

// sleeps records the waits of an engine instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return context.Cause(ctx)
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}
