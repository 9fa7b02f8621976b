package blob_test

import (
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/blob/blobtest"
)

// onlyReader hides every method but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestS3PutStreamsInParts(t *testing.T) {
	// A 20 MiB body of unknown length goes up as four 5 MiB parts, each
	// buffered on its own, never as one 20 MiB request.
	var parts, puts atomic.Int32
	var largest atomic.Int64
	count := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut {
				if r.URL.Query().Has("partNumber") {
					parts.Add(1)
				} else {
					puts.Add(1)
				}
				for {
					cur := largest.Load()
					if r.ContentLength <= cur || largest.CompareAndSwap(cur, r.ContentLength) {
						break
					}
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	srv := blobtest.Gofakes3(t, count)
	st := srv.NewStore(t)
	puts.Store(0) // CreateBucket
	body := io.LimitReader(rand.NewChaCha8([32]byte{1}), blobtest.LargeSize)
	if err := st.Put(t.Context(), "big.wav", onlyReader{body}, blob.Attrs{}); err != nil {
		t.Fatal(err)
	}
	if parts.Load() != 4 || puts.Load() != 0 {
		t.Errorf("%d UploadPart and %d PutObject requests, want 4 and 0", parts.Load(), puts.Load())
	}
	if largest.Load() > 5<<20 {
		t.Errorf("largest request body %d bytes, want at most one 5 MiB part", largest.Load())
	}
}

func TestS3ServerIgnoringRange(t *testing.T) {
	// Some servers answer a ranged GET with the whole object; OpenRange
	// then skips to the offset itself.
	var stripped atomic.Int32
	strip := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Range") != "" {
				stripped.Add(1)
				r.Header.Del("Range")
			}
			h.ServeHTTP(w, r)
		})
	}
	srv := blobtest.Gofakes3(t, strip)
	blobtest.RunWith(t, func(t *testing.T) blob.Store { return srv.NewStore(t) }, blobtest.Quirks{MergesMetadataOnOverwrite: true})
	if stripped.Load() == 0 {
		t.Error("no ranged request reached the server")
	}
}

func TestNewS3Refuses(t *testing.T) {
	client := blobtest.Gofakes3(t).Client()
	for name, c := range map[string]struct {
		bucket string
		opts   blob.S3Options
	}{
		"no bucket":         {"", blob.S3Options{}},
		"small parts":       {"b", blob.S3Options{PartSize: 1 << 20}},
		"negative parallel": {"b", blob.S3Options{Concurrency: -1}},
	} {
		if _, err := blob.NewS3(client, c.bucket, c.opts); err == nil {
			t.Errorf("%s: NewS3 succeeded", name)
		}
	}
	if _, err := blob.NewS3(nil, "b", blob.S3Options{}); err == nil {
		t.Error("NewS3 without a client succeeded")
	}
	st, err := blob.NewS3(client, "b", blob.S3Options{PartSize: 8 << 20, Concurrency: 4})
	if err != nil || st.Bucket() != "b" {
		t.Errorf("NewS3 with options: %v", err)
	}
}
