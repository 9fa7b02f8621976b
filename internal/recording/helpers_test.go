package recording

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/wav"
)

const (
	contactA = "7c0e3a52-4f1d-4a8b-9d2e-5b6a1f0c9e31"
	contactB = "2b9d6e11-8c3f-4e7a-a1d4-0e5f6a7b8c90"
	caller   = "+15555550123"
)

var simCreds = kvssim.Credentials{AccessKeyID: "AKIDRECORDINGTEST", SecretAccessKey: "recording-test-secret"}

// call is the two sides of a synthetic call: a prompt the customer hears,
// then the customer speaking.
func call(seconds, promptSeconds float64, seed uint64) (from, to []byte) {
	n := int(seconds*synth.SampleRate) * 2
	from, to = make([]byte, n), make([]byte, n)
	synth.NewCall(seed, promptSeconds).Read(from, to)
	return from, to
}

// sim is a KVS simulator behind a real HTTP server that verifies SigV4
// and counts GetMedia sessions. A paced stream plays from the call of
// play on, however long the test took to set up.
type sim struct {
	*kvssim.Server
	url      string
	getMedia atomic.Int64
	clock    *lateClock
}

// lateClock is the system clock set back by shift.
type lateClock struct {
	created time.Time
	shift   atomic.Int64
}

func (c *lateClock) Now() time.Time                         { return time.Now().Add(-time.Duration(c.shift.Load())) }
func (c *lateClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// play starts the paced streams now and waits until the first fragment
// is available, as it is when Connect hands out StartFragmentNumber.
func (s *sim) play(pace float64) {
	s.clock.shift.Store(int64(time.Since(s.clock.created)))
	time.Sleep(time.Duration(float64(kvssim.DefaultFragmentDuration)/pace) + 50*time.Millisecond)
}

func newSim(t testing.TB, opts kvssim.Options) *sim {
	t.Helper()
	opts.Credentials = &simCreds
	clock := &lateClock{created: time.Now()}
	opts.Clock, opts.Start = clock, clock.created
	s := &sim{Server: kvssim.New(opts), clock: clock}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/getMedia" {
			s.getMedia.Add(1)
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.url = ts.URL
	return s
}

// stream adds a stream of parts and returns its ARN and fragments.
func (s *sim) stream(t testing.TB, name string, parts ...kvssim.Source) (string, []kvssim.FragmentInfo) {
	t.Helper()
	if err := s.AddStream(name, parts...); err != nil {
		t.Fatal(err)
	}
	arn, err := s.StreamARN(name)
	if err != nil {
		t.Fatal(err)
	}
	frags, err := s.Fragments(name)
	if err != nil {
		t.Fatal(err)
	}
	return arn, frags
}

// client is a real KVS client for the simulator, quick to notice the end
// of a stream.
func (s *sim) client(t testing.TB) *kvs.Client {
	t.Helper()
	c, err := kvs.New(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(simCreds.AccessKeyID, simCreds.SecretAccessKey, ""),
	}, kvs.Options{Endpoint: s.url, ReconnectDelay: 20 * time.Millisecond, EmptyReconnects: 2, IdleTimeout: 2 * time.Second, BaseDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// env is a Recorder on a SQLite database and a local blob store.
type env struct {
	rec   *Recorder
	db    *store.Store
	blobs *blob.Local
	api   *httptest.Server
	cfg   Config
	deps  Deps
}

func newEnv(t testing.TB, s *sim, cfg Config, engine asr.Engine) *env {
	t.Helper()
	db, err := store.Open(context.Background(), storetest.SQLite(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = 50 * time.Millisecond
	}
	if cfg.StartFragmentDelay == 0 {
		cfg.StartFragmentDelay = -1 // sim.play waits for the first fragment
	}
	e := &env{db: db, blobs: blobs, cfg: cfg, deps: Deps{Media: s.client(t), Blobs: blobs, Store: db, Engine: engine}}
	e.rec = e.recorder(t)
	return e
}

// recorder returns a new Recorder on e's database, blobs and temp dir, as
// a restarted vmx would have, serving e.api.
func (e *env) recorder(t testing.TB) *Recorder {
	t.Helper()
	rec, err := New(e.cfg, e.deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rec.stopAll()
		rec.wg.Wait()
	})
	if e.api != nil {
		e.api.Close()
	}
	e.api = httptest.NewServer(rec.Handler())
	t.Cleanup(e.api.Close)
	return rec
}

// runRecorder runs the Recorder until the test ends, and returns a function that
// stops it and waits.
func runRecorder(t testing.TB, rec *Recorder) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec.Run(ctx)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		<-done
	})
	t.Cleanup(stop)
	return stop
}

// do sends a request to the API and decodes the JSON answer into out.
func (e *env) do(t testing.TB, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, e.api.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func startBody(contactID, arn, fragment string, extra string) string {
	b := fmt.Sprintf(`{"contact_id":%q,"stream_arn":%q`, contactID, arn)
	if fragment != "" {
		b += fmt.Sprintf(`,"start_fragment_number":%q`, fragment)
	}
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

// start posts a start request and expects 202.
func (e *env) start(t testing.TB, body string) Status {
	t.Helper()
	var st Status
	if code := e.do(t, http.MethodPost, "/v1/recordings", body, &st); code != http.StatusAccepted {
		t.Fatalf("start: %d %+v", code, st)
	}
	return st
}

// wait polls the status until cond holds.
func (e *env) wait(t testing.TB, contactID string, within time.Duration, what string, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var st Status
		code := e.do(t, http.MethodGet, "/v1/recordings/"+contactID, "", &st)
		if code == http.StatusOK && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s: status %d %+v", within, what, code, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) waitDone(t testing.TB, contactID string, within time.Duration) Status {
	t.Helper()
	return e.wait(t, contactID, within, "recording not done", func(st Status) bool { return st.State != StateRecording })
}

// pcm reads a stored WAV file back and checks its format.
func (e *env) pcm(t testing.TB, key string, channels int) []byte {
	t.Helper()
	rc, info, err := e.blobs.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if info.ContentType != "audio/wav" {
		t.Errorf("%s stored as %q", key, info.ContentType)
	}
	r, err := wav.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Format(); f != (wav.Format{SampleRate: 8000, Channels: channels, BitsPerSample: 16}) {
		t.Fatalf("%s: format %+v", key, f)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// file returns the stored file of a track.
func file(t testing.TB, st Status, track string) File {
	t.Helper()
	for _, f := range st.Files {
		if f.Track == track {
			return f
		}
	}
	t.Fatalf("no %s file in %+v", track, st.Files)
	return File{}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// interleave is the stereo PCM of two sides, the customer left.
func interleave(from, to []byte) []byte {
	out := make([]byte, 0, 2*len(from))
	for i := 0; i+1 < len(from); i += 2 {
		out = append(out, from[i:i+2]...)
		out = append(out, to[i:i+2]...)
	}
	return out
}

// fakeEngine stands in for a speech recogniser: it "hears" each utterance
// as its length, and records what it was given.
type fakeEngine struct {
	mu    sync.Mutex
	calls []int // PCM bytes per call
}

func (*fakeEngine) Name() string { return "fake" }

func (f *fakeEngine) heard() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeEngine) Transcribe(_ context.Context, a asr.Audio, opts asr.Options) (*asr.Result, error) {
	b, err := io.ReadAll(a.PCM)
	if err != nil {
		return nil, err
	}
	if a.SampleRate != 8000 || opts.ContactID == "" || opts.Language == "" {
		return nil, fmt.Errorf("fake engine: audio at %d Hz, contact %q, language %q", a.SampleRate, opts.ContactID, opts.Language)
	}
	f.mu.Lock()
	f.calls = append(f.calls, len(b))
	f.mu.Unlock()
	ms := int64(len(b) / 16)
	return &asr.Result{Engine: "fake", Text: fmt.Sprintf("%d ms", ms), Segments: []asr.Segment{{StartMS: 0, EndMS: ms, Text: fmt.Sprintf("%d ms", ms), Confidence: 0.5}}}, nil
}

// loud reports whether 16-bit PCM has a sample above a whisper between
// fromMS and toMS.
func loud(pcm []byte, fromMS, toMS int64) bool {
	for i := fromMS * 16; i+1 < toMS*16 && int(i)+1 < len(pcm); i += 2 {
		if v := int16(binary.LittleEndian.Uint16(pcm[i:])); v > 500 || v < -500 {
			return true
		}
	}
	return false
}
