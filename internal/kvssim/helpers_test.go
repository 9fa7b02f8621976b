package kvssim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/vmx-dev/vmx/internal/kvstest"
	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/wav"
)

// testCreds are the credentials test requests are signed with.
var testCreds = Credentials{AccessKeyID: "AKIDKVSSIMTEST", SecretAccessKey: "kvssim-test-secret"}

func readFixture(t testing.TB, name string) []byte { return kvstest.Read(t, name) }

// serve starts an httptest server for s.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts.URL
}

// call POSTs body as JSON to base+"/"+op, signed with creds (nil: not
// signed at all).
func call(t *testing.T, base, op string, body any, creds *Credentials) *http.Response {
	t.Helper()
	req := signedRequest(t, base, op, body, creds)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func signedRequest(t *testing.T, base, op string, body any, creds *Credentials) *http.Request {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/"+op, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if creds != nil {
		sign(t, req, b, *creds, "kinesisvideo", "us-east-1")
	}
	return req
}

func sign(t *testing.T, req *http.Request, body []byte, creds Credentials, service, region string) {
	t.Helper()
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{
		AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey,
	}, req, hex.EncodeToString(sum[:]), service, region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
}

// readAll reads a response body and requires status 200.
func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return b
}

// wantError requires an AWS-shaped error response.
func wantError(t *testing.T, resp *http.Response, status int, typ string) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (%s)", resp.StatusCode, status, b)
	}
	if h := resp.Header.Get("x-amzn-ErrorType"); !strings.HasPrefix(h, typ+":") {
		t.Fatalf("x-amzn-ErrorType %q, want %s:…", h, typ)
	}
	var body struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Message == "" {
		t.Fatalf("body %q is not {\"message\": …} (%v)", b, err)
	}
	if resp.Header.Get("x-amzn-RequestId") == "" {
		t.Fatal("no x-amzn-RequestId header")
	}
	return body.Message
}

// parsed is what a test keeps of one fragment of a media response.
type parsed struct {
	number    string
	contact   string
	complete  bool
	token     string
	behind    string
	errCode   string
	errID     string
	size      int64
	truncated bool
	from, to  []byte
	producer  time.Time
	hasEvents bool
	fromFirst bool
}

func parseMedia(t *testing.T, body []byte) []parsed {
	t.Helper()
	var out []parsed
	fr := mkv.NewFragmentReader(bytes.NewReader(body))
	for {
		f, err := fr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("parse media: %v", err)
		}
		p := parsed{number: f.FragmentNumber(), complete: f.Complete(), size: f.Size, truncated: f.Truncated}
		p.contact, _ = f.Tag(mkv.TagContactID)
		p.token, _ = f.Tag(mkv.TagContinuationToken)
		p.behind, _ = f.Tag(mkv.TagMillisBehindNow)
		p.errCode, p.errID, _ = f.ErrorChunk()
		_, p.hasEvents = f.Tag("Events")
		p.producer, _ = f.ProducerTime()
		if name, ok := f.TrackName(1); ok {
			p.fromFirst = name == mkv.TrackFromCustomer
		}
		for _, b := range f.Blocks {
			switch name, _ := f.TrackName(b.Track); name {
			case mkv.TrackFromCustomer:
				p.from = append(p.from, b.Data...)
			case mkv.TrackToCustomer:
				p.to = append(p.to, b.Data...)
			}
		}
		out = append(out, p)
	}
}

func numbers(ps []parsed) []string {
	var n []string
	for _, p := range ps {
		n = append(n, p.number)
	}
	return n
}

func infoNumbers(fs []FragmentInfo) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Number)
	}
	return n
}

// pcm returns n bytes of deterministic, non-silent 16-bit audio.
func pcm(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// makeWAV builds a WAVE file around data.
func makeWAV(t *testing.T, f wav.Format, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := wav.NewWriter(&buf, f, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pcmServer returns a server with stream "s" of n full 1,024 ms fragments.
func pcmServer(t *testing.T, opts Options, n int) (*Server, []FragmentInfo) {
	t.Helper()
	s := New(opts)
	if err := s.AddStream("s", FromPCM(pcm(n*16384, 1), pcm(n*16384, 2), Contact{ContactID: "c1"})); err != nil {
		t.Fatal(err)
	}
	infos, err := s.Fragments("s")
	if err != nil {
		t.Fatal(err)
	}
	return s, infos
}

// fakeClock is a Clock driven by the test.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	changed chan struct{} // closed when a waiter is added
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	close(c.changed)
	c.changed = make(chan struct{})
	return ch
}

// Set moves the clock to t and fires the waiters due.
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(t) {
			kept = append(kept, w)
			continue
		}
		w.ch <- t
	}
	c.waiters = kept
}

// waitFor blocks until someone waits for exactly the time at. The
// deadline only keeps a broken test from hanging.
func (c *fakeClock) waitFor(t *testing.T, at time.Time) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		var pending []time.Time
		for _, w := range c.waiters {
			if w.at.Equal(at) {
				c.mu.Unlock()
				return
			}
			pending = append(pending, w.at)
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			sort.Slice(pending, func(i, j int) bool { return pending[i].Before(pending[j]) })
			t.Fatalf("nobody waits for %v; waiters: %v", at, pending)
		}
	}
}
