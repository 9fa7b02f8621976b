package lambdafn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/lambdafn"
	"github.com/vmx-dev/vmx/internal/media"
)

// mediaKey is where contactA's recording is.
var mediaKey = blob.RecordingKey(time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), contactA)

// recording is contactA's stored recording: bytes that are not text.
var recording = func() []byte {
	b := make([]byte, 3000)
	for i := range b {
		b[i] = byte(i*7 + i/256)
	}
	return b
}()

var signer = media.Signer{Secret: []byte("0123456789abcdef0123456789abcdef"), BaseURL: "https://abcdefg.lambda-url.us-east-1.on.aws"}

// mediaFunction is the media function over blobs holding the recording.
func mediaFunction(t *testing.T, blobs interface {
	media.Blobs
	blob.Store
}) any {
	t.Helper()
	if err := blobs.Put(context.Background(), mediaKey, bytes.NewReader(recording), blob.Attrs{ContentType: "audio/wav"}); err != nil {
		t.Fatal(err)
	}
	h, err := media.NewHandler(media.Config{
		Signer: signer, Blobs: blobs, PresignTTL: time.Minute,
		Contacts: media.ResolverFunc(func(_ context.Context, id string) (string, error) {
			if id != contactA {
				return "", media.ErrUnknownContact
			}
			return mediaKey, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return lambdafn.FunctionURL(h)
}

// functionURLEvent is the event a Lambda Function URL sends for a GET of
// link with headers, as AWS documents it.
func functionURLEvent(t *testing.T, link string, headers map[string]string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{"host": u.Host, "user-agent": "curl/8.5.0", "accept": "*/*", "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"}
	for k, v := range headers {
		h[k] = v
	}
	ev := map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": u.EscapedPath(), "rawQueryString": u.RawQuery,
		"headers": h, "queryStringParameters": map[string]string{"exp": u.Query().Get("exp"), "sig": u.Query().Get("sig")},
		"requestContext": map[string]any{
			"accountId": "anonymous", "apiId": "abcdefg", "domainName": u.Host, "domainPrefix": "abcdefg",
			"http":      map[string]string{"method": "GET", "path": u.EscapedPath(), "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
			"requestId": "c1a2b3d4-0000-4000-8000-000000000000", "routeKey": "$default", "stage": "$default",
			"time": "02/Jan/2026:09:05:00 +0000", "timeEpoch": 1767344700000,
		},
		"isBase64Encoded": false,
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

type urlResponse struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

func (r urlResponse) body(t *testing.T) []byte {
	t.Helper()
	if !r.IsBase64Encoded {
		return []byte(r.Body)
	}
	b, err := base64.StdEncoding.DecodeString(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A signed link redirects to a presigned GET of the recording in S3, which
// S3 serves; a tampered link is refused.
func TestMediaFunctionURLOnS3(t *testing.T) {
	fn := mediaFunction(t, blobtest.Gofakes3(t).NewStore(t))
	link, err := signer.URL(contactA, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var resp urlResponse
	if err := invoke(t, fn, functionURLEvent(t, link, nil), &resp); err != nil {
		t.Fatal(err)
	}
	loc := resp.Headers["Location"]
	if resp.StatusCode != http.StatusFound || !strings.Contains(loc, "X-Amz-Signature=") || resp.Headers["Cache-Control"] != "no-store" {
		t.Fatalf("answer %+v", resp)
	}
	got, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	if b, _ := io.ReadAll(got.Body); got.StatusCode != http.StatusOK || !bytes.Equal(b, recording) {
		t.Fatalf("presigned GET: %s, %d bytes", got.Status, len(b))
	}

	tampered := strings.Replace(link, "sig=", "sig=0", 1)
	resp = urlResponse{}
	if err := invoke(t, fn, functionURLEvent(t, tampered, nil), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden || resp.Headers["Location"] != "" || !strings.Contains(resp.Body, "Forbidden") {
		t.Fatalf("tampered link: %+v", resp)
	}
}

// A store that is served, not redirected to, answers a Range request with
// the bytes asked for, base64-encoded as Lambda carries binary bodies.
func TestMediaFunctionURLRange(t *testing.T) {
	fn := mediaFunction(t, blobtest.NewLocal(t))
	link, err := signer.URL(contactA, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var resp urlResponse
	if err := invoke(t, fn, functionURLEvent(t, link, map[string]string{"range": "bytes=1000-1999"}), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusPartialContent || resp.Headers["Content-Range"] != "bytes 1000-1999/3000" ||
		resp.Headers["Content-Type"] != "audio/wav" || !resp.IsBase64Encoded {
		t.Fatalf("answer %d %v base64 %v", resp.StatusCode, resp.Headers, resp.IsBase64Encoded)
	}
	if got := resp.body(t); !bytes.Equal(got, recording[1000:2000]) {
		t.Fatalf("body %d bytes, not the range asked for", len(got))
	}
}
