package media_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/media"
)

const recordingKey = "recordings/2025/09/13/" + contact + ".wav"

// recording is 1000 bytes of a fake WAV.
var recording = func() []byte {
	b := make([]byte, 1000)
	copy(b, "RIFF\x00\x00\x00\x00WAVE")
	for i := 12; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	return b
}()

// contacts knows one contact; "broken" fails to look up.
var contacts = media.ResolverFunc(func(ctx context.Context, id string) (string, error) {
	switch id {
	case contact:
		return recordingKey, nil
	case "no-recording":
		return "recordings/2025/09/13/no-recording.wav", nil
	case "broken":
		return "", errors.New("database unavailable")
	}
	return "", fmt.Errorf("contact %s: %w", id, media.ErrUnknownContact)
})

func newHandler(t *testing.T, st media.Blobs, clock func() time.Time) *media.Handler {
	t.Helper()
	h, err := media.NewHandler(media.Config{Signer: signer(), Contacts: contacts, Blobs: st, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func putRecording(t *testing.T, st blob.Store) {
	t.Helper()
	err := st.Put(t.Context(), recordingKey, bytes.NewReader(recording), blob.Attrs{ContentType: "audio/wav"})
	if err != nil {
		t.Fatal(err)
	}
}

// path returns the request path and query of a link valid for a day.
func path(t *testing.T, id string) string {
	t.Helper()
	raw, err := signer().URL(id, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	return u.RequestURI()
}

func do(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://vmx.example.com"+target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func fixed() time.Time { return now }

func TestServeLocal(t *testing.T) {
	st := blobtest.NewLocal(t)
	putRecording(t, st)
	h := newHandler(t, st, fixed)
	target := path(t, contact)
	n := len(recording)

	w := do(h, http.MethodGet, target)
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), recording) {
		t.Fatalf("GET: %d, %d bytes", w.Code, w.Body.Len())
	}
	for k, want := range map[string]string{
		"Content-Type":        "audio/wav",
		"Content-Disposition": `inline; filename=` + contact + `.wav`,
		"Accept-Ranges":       "bytes",
		"Content-Length":      strconv.Itoa(n),
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("GET: %s = %q, want %q", k, got, want)
		}
	}
	lastMod := w.Header().Get("Last-Modified")
	etag := w.Header().Get("ETag")
	if lastMod == "" || etag == "" {
		t.Errorf("GET: Last-Modified %q, ETag %q", lastMod, etag)
	}

	cases := []struct {
		name         string
		method       string
		header       []string
		status       int
		body         []byte
		contentRange string
	}{
		{"first 100 bytes", "GET", []string{"Range", "bytes=0-99"}, 206, recording[:100], fmt.Sprintf("bytes 0-99/%d", n)},
		{"middle", "GET", []string{"Range", "bytes=500-599"}, 206, recording[500:600], fmt.Sprintf("bytes 500-599/%d", n)},
		{"open end", "GET", []string{"Range", "bytes=900-"}, 206, recording[900:], fmt.Sprintf("bytes 900-%d/%d", n-1, n)},
		{"suffix", "GET", []string{"Range", "bytes=-100"}, 206, recording[n-100:], fmt.Sprintf("bytes %d-%d/%d", n-100, n-1, n)},
		{"suffix longer than file", "GET", []string{"Range", "bytes=-5000"}, 206, recording, fmt.Sprintf("bytes 0-%d/%d", n-1, n)},
		{"past the end", "GET", []string{"Range", fmt.Sprintf("bytes=%d-", n)}, 416, nil, fmt.Sprintf("bytes */%d", n)},
		{"HEAD", "HEAD", nil, 200, nil, ""},
		{"not modified since", "GET", []string{"If-Modified-Since", lastMod}, 304, nil, ""},
		{"modified since", "GET", []string{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}, 200, recording, ""},
		{"if-none-match", "GET", []string{"If-None-Match", etag}, 304, nil, ""},
	}
	for _, c := range cases {
		w := do(h, c.method, target, c.header...)
		if w.Code != c.status {
			t.Errorf("%s: status %d, want %d", c.name, w.Code, c.status)
			continue
		}
		if c.body != nil && !bytes.Equal(w.Body.Bytes(), c.body) {
			t.Errorf("%s: %d bytes, want %d", c.name, w.Body.Len(), len(c.body))
		}
		if c.body == nil && w.Body.Len() != 0 && c.status != 416 {
			t.Errorf("%s: %d bytes of body, want none", c.name, w.Body.Len())
		}
		if got := w.Header().Get("Content-Range"); got != c.contentRange {
			t.Errorf("%s: Content-Range %q, want %q", c.name, got, c.contentRange)
		}
	}
	if w := do(h, "HEAD", target); w.Header().Get("Content-Length") != strconv.Itoa(n) {
		t.Errorf("HEAD: Content-Length %q", w.Header().Get("Content-Length"))
	}
}

func TestRefused(t *testing.T) {
	st := blobtest.NewLocal(t)
	putRecording(t, st)
	h := newHandler(t, st, fixed)
	id, exp, sig := link(t, signer(), contact, now.Add(time.Hour))
	query := func(id string, exp int64, sig string) string {
		return media.PathPrefix + id + "?" + url.Values{"exp": {strconv.FormatInt(exp, 10)}, "sig": {sig}}.Encode()
	}
	_, expiredExp, expiredSig := link(t, signer(), contact, now.Add(-time.Second))
	_, unknownExp, unknownSig := link(t, signer(), "unknown", now.Add(time.Hour))
	_, brokenExp, brokenSig := link(t, signer(), "broken", now.Add(time.Hour))
	_, norecExp, norecSig := link(t, signer(), "no-recording", now.Add(time.Hour))
	tampered := []byte(sig)
	tampered[10] ^= 1 // '0'..'9' and 'a'..'f' flip to other characters
	cases := []struct {
		name   string
		method string
		target string
		status int
	}{
		{"valid", "GET", query(id, exp, sig), 200},
		{"no query", "GET", media.PathPrefix + id, 403},
		{"no sig", "GET", media.PathPrefix + id + "?exp=" + strconv.FormatInt(exp, 10), 403},
		{"no exp", "GET", media.PathPrefix + id + "?sig=" + sig, 403},
		{"exp not a number", "GET", media.PathPrefix + id + "?exp=soon&sig=" + sig, 403},
		{"tampered sig", "GET", query(id, exp, string(tampered)), 403},
		{"tampered exp", "GET", query(id, exp+3600, sig), 403},
		{"tampered contact", "GET", query("6c3a5d2f-1a8b-4e66-af4d-1b2c3d4e5f60", exp, sig), 403},
		{"expired", "GET", query(id, expiredExp, expiredSig), 410},
		{"expired HEAD", "HEAD", query(id, expiredExp, expiredSig), 410},
		{"unknown contact", "GET", query("unknown", unknownExp, unknownSig), 404},
		{"recording missing", "GET", query("no-recording", norecExp, norecSig), 404},
		{"lookup fails", "GET", query("broken", brokenExp, brokenSig), 500},
		{"POST", "POST", query(id, exp, sig), 405},
		{"no contact ID", "GET", media.PathPrefix + "?exp=1&sig=00", 404},
		{"nested path", "GET", media.PathPrefix + "a/b?exp=1&sig=00", 404},
		{"other path", "GET", "/v2/media/" + id, 404},
	}
	for _, c := range cases {
		w := do(h, c.method, c.target)
		if w.Code != c.status {
			t.Errorf("%s: %s %s = %d, want %d", c.name, c.method, c.target, w.Code, c.status)
		}
		if c.status >= 400 {
			if ct := w.Header().Get("Content-Type"); strings.HasPrefix(ct, "audio/") {
				t.Errorf("%s: error answered with Content-Type %s", c.name, ct)
			}
			if c.method == "GET" && !strings.Contains(w.Body.String(), "error id") {
				t.Errorf("%s: body %q lacks the error id", c.name, w.Body.String())
			}
		}
		if c.status == 405 && w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", c.name, w.Header().Get("Allow"))
		}
	}
}

func TestExpiresWithTheClock(t *testing.T) {
	st := blobtest.NewLocal(t)
	putRecording(t, st)
	clock := now
	h := newHandler(t, st, func() time.Time { return clock })
	target := path(t, contact) // valid for 24 h
	if w := do(h, "GET", target); w.Code != 200 {
		t.Fatalf("fresh link: %d", w.Code)
	}
	clock = now.Add(24 * time.Hour)
	if w := do(h, "GET", target); w.Code != http.StatusGone {
		t.Fatalf("link at expiry: %d, want 410", w.Code)
	}
}

// streamOnly hides every capability of a store but Stat and Open.
type streamOnly struct{ st blob.Store }

func (s streamOnly) Stat(ctx context.Context, key string) (blob.Info, error) {
	return s.st.Stat(ctx, key)
}

func (s streamOnly) Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	return s.st.Open(ctx, key)
}

func TestServeStreamOnly(t *testing.T) {
	st := blobtest.NewLocal(t)
	putRecording(t, st)
	h := newHandler(t, streamOnly{st}, fixed)
	w := do(h, "GET", path(t, contact), "Range", "bytes=0-99")
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), recording) || w.Header().Get("Accept-Ranges") != "none" {
		t.Errorf("GET from a stream-only store: %d, %d bytes, Accept-Ranges %q", w.Code, w.Body.Len(), w.Header().Get("Accept-Ranges"))
	}
	w = do(h, "HEAD", path(t, contact))
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != strconv.Itoa(len(recording)) {
		t.Errorf("HEAD from a stream-only store: %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	if w := do(h, "GET", path(t, "no-recording")); w.Code != 404 {
		t.Errorf("missing recording on a stream-only store: %d", w.Code)
	}
}

func TestRedirectGofakes3(t *testing.T) {
	testRedirect(t, blobtest.Gofakes3(t))
}

func TestRedirectVersitygw(t *testing.T) {
	testRedirect(t, blobtest.Versitygw(t))
}

// testRedirect checks that a Presigner store is answered with a redirect
// the S3 server honours, and, where the server checks signatures, that a
// tampered presigned URL is refused.
func testRedirect(t *testing.T, srv *blobtest.S3Server) {
	st := srv.NewStore(t)
	putRecording(t, st)
	h := newHandler(t, st, time.Now)
	raw, err := signer().URL(contact, time.Now().Add(90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	w := do(h, "GET", u.RequestURI())
	if w.Code != http.StatusFound {
		t.Fatalf("GET: %d, want 302", w.Code)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("redirect Cache-Control %q, want no-store", cc)
	}
	loc := w.Header().Get("Location")
	if !strings.HasPrefix(loc, srv.Endpoint+"/") {
		t.Fatalf("Location %q is not on the S3 server %s", loc, srv.Endpoint)
	}
	pu, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	if q.Get("X-Amz-Expires") != "300" || q.Get("X-Amz-Signature") == "" {
		t.Errorf("presigned URL query %v: want X-Amz-Expires=300 and a signature", q)
	}

	status, body := get(t, loc, "")
	if status != 200 || !bytes.Equal(body, recording) {
		t.Fatalf("GET presigned URL: %d, %d bytes", status, len(body))
	}
	if status, body := get(t, loc, "bytes=0-99"); status != 206 || !bytes.Equal(body, recording[:100]) {
		t.Errorf("ranged GET of the presigned URL: %d, %d bytes", status, len(body))
	}

	raw, err = signer().URL("no-recording", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(raw)
	if w := do(h, "GET", u.RequestURI()); w.Code != 404 {
		t.Errorf("missing recording: %d, want 404 (not a redirect)", w.Code)
	}

	if !srv.ChecksSignatures {
		return
	}
	sig := q.Get("X-Amz-Signature")
	flipped := []byte(sig)
	if flipped[0] == '0' {
		flipped[0] = '1'
	} else {
		flipped[0] = '0'
	}
	q2 := pu.Query()
	q2.Set("X-Amz-Signature", string(flipped))
	bad := *pu
	bad.RawQuery = q2.Encode()
	other := *pu
	other.Path = strings.Replace(pu.Path, contact, "6c3a5d2f-1a8b-4e66-af4d-1b2c3d4e5f60", 1)
	longer := pu.Query()
	longer.Set("X-Amz-Expires", "604800")
	extended := *pu
	extended.RawQuery = longer.Encode()
	for name, u := range map[string]string{
		"tampered signature": bad.String(),
		"other key":          other.String(),
		"longer expiry":      extended.String(),
	} {
		if status, _ := get(t, u, ""); status != http.StatusForbidden {
			t.Errorf("%s: GET = %d, want 403", name, status)
		}
	}
}

func get(t *testing.T, u, rng string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestPresignTTLCappedByLink(t *testing.T) {
	srv := blobtest.Gofakes3(t)
	st := srv.NewStore(t)
	putRecording(t, st)
	h := newHandler(t, st, time.Now)
	raw, err := signer().URL(contact, time.Now().Add(90*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	w := do(h, "GET", u.RequestURI())
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != 302 || loc == nil {
		t.Fatalf("GET: %d", w.Code)
	}
	if e, _ := strconv.Atoi(loc.Query().Get("X-Amz-Expires")); e < 1 || e > 90 {
		t.Errorf("X-Amz-Expires %d for a link with 90 s left", e)
	}
}

func TestNewHandlerRefuses(t *testing.T) {
	st := blobtest.NewLocal(t)
	for name, c := range map[string]media.Config{
		"no secret":    {Contacts: contacts, Blobs: st},
		"no contacts":  {Signer: signer(), Blobs: st},
		"no blobs":     {Signer: signer(), Contacts: contacts},
		"negative ttl": {Signer: signer(), Contacts: contacts, Blobs: st, PresignTTL: -time.Second},
		"ttl too long": {Signer: signer(), Contacts: contacts, Blobs: st, PresignTTL: 8 * 24 * time.Hour},
	} {
		if _, err := media.NewHandler(c); err == nil {
			t.Errorf("%s: NewHandler succeeded", name)
		}
	}
}
