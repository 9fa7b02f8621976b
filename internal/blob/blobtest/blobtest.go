// Package blobtest checks that a blob.Store behaves as the package blob
// documents, and starts the S3 servers the checks run against: gofakes3 in
// process, and versitygw when it is installed.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
)

// LargeSize is the length of the object the streaming test writes: four
// parts of a multipart upload at the default part size.
const LargeSize = 20 << 20

// Quirks are known deviations of a server from S3 that the suite
// tolerates.
type Quirks struct {
	// MergesMetadataOnOverwrite: gofakes3 (v1.2.0) merges the metadata of an
	// object it overwrites into the new object; S3 replaces it.
	MergesMetadataOnOverwrite bool
}

// Run runs the conformance suite. newStore returns an empty store for one
// subtest. Tests of optional capabilities (RangeOpener, SeekOpener,
// Presigner) run when the store has them.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	RunWith(t, newStore, Quirks{})
}

// RunWith runs the conformance suite, tolerating quirks.
func RunWith(t *testing.T, newStore func(t *testing.T) blob.Store, quirks Quirks) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st blob.Store, q Quirks)
	}{
		{"RoundTrip", testRoundTrip},
		{"Empty", testEmpty},
		{"MissingKey", testMissingKey},
		{"Overwrite", testOverwrite},
		{"FailedPutKeepsOld", testFailedPutKeepsOld},
		{"Delete", testDelete},
		{"List", testList},
		{"InvalidKey", testInvalidKey},
		{"InvalidMetadata", testInvalidMetadata},
		{"LargeStreaming", testLargeStreaming},
		{"Concurrent", testConcurrent},
		{"OpenRange", testOpenRange},
		{"OpenSeeker", testOpenSeeker},
		{"PresignGet", testPresignGet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t), quirks) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// onlyReader hides every method but Read, as a network stream would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func put(t *testing.T, st blob.Store, key string, data []byte, attrs blob.Attrs) {
	t.Helper()
	if err := st.Put(ctx(t), key, onlyReader{bytes.NewReader(data)}, attrs); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func read(t *testing.T, st blob.Store, key string) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := st.Open(ctx(t), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b, info
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

var wavAttrs = blob.Attrs{
	ContentType: "audio/wav",
	Metadata: map[string]string{
		"contact-id": "5b2f4c1e-0f7a-4d55-9e3c-0a1b2c3d4e5f",
		"vmx3_lang":  "en-US",
		"Queue-ARN":  "arn:aws:connect:us-east-1:123456789012:instance/0d5a4b3c/queue/7f8e9d0c",
	},
}

func testRoundTrip(t *testing.T, st blob.Store, _ Quirks) {
	key := blob.RecordingKey(time.Date(2025, 9, 13, 23, 59, 0, 0, time.UTC), "5b2f4c1e-0f7a-4d55-9e3c-0a1b2c3d4e5f")
	data := pattern(1, 100_000)
	before := time.Now().Add(-time.Minute)
	put(t, st, key, data, wavAttrs)

	got, info := read(t, st, key)
	if !bytes.Equal(got, data) {
		t.Fatalf("Open returned %d bytes that differ from the %d put", len(got), len(data))
	}
	checkInfo(t, "Open", info, key, int64(len(data)), before)
	info, err := st.Stat(ctx(t), key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	checkInfo(t, "Stat", info, key, int64(len(data)), before)
}

func checkInfo(t *testing.T, op string, info blob.Info, key string, size int64, after time.Time) {
	t.Helper()
	if info.Key != key || info.Size != size {
		t.Errorf("%s: key %q size %d, want %q %d", op, info.Key, info.Size, key, size)
	}
	if info.ModTime.Before(after) || info.ModTime.After(time.Now().Add(time.Minute)) {
		t.Errorf("%s: ModTime %v, want about now", op, info.ModTime)
	}
	if info.ContentType != wavAttrs.ContentType {
		t.Errorf("%s: ContentType %q, want %q", op, info.ContentType, wavAttrs.ContentType)
	}
	want := map[string]string{
		"contact-id": wavAttrs.Metadata["contact-id"],
		"vmx3_lang":  wavAttrs.Metadata["vmx3_lang"],
		"queue-arn":  wavAttrs.Metadata["Queue-ARN"],
	}
	if !mapsEqual(info.Metadata, want) {
		t.Errorf("%s: Metadata %v, want %v", op, info.Metadata, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testEmpty(t *testing.T, st blob.Store, _ Quirks) {
	put(t, st, "empty.json", nil, blob.Attrs{})
	got, info := read(t, st, "empty.json")
	if len(got) != 0 || info.Size != 0 {
		t.Fatalf("empty object: read %d bytes, Size %d", len(got), info.Size)
	}
	if len(info.Metadata) != 0 {
		t.Errorf("Metadata %v, want none", info.Metadata)
	}
}

func testMissingKey(t *testing.T, st blob.Store, _ Quirks) {
	const key = "recordings/2025/01/01/missing.wav"
	put(t, st, "recordings/2025/01/01/present.wav", []byte("x"), blob.Attrs{})
	if rc, _, err := st.Open(ctx(t), key); !errors.Is(err, blob.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Open(missing) = %v, want ErrNotFound", err)
	}
	if _, err := st.Stat(ctx(t), key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat(missing) = %v, want ErrNotFound", err)
	}
	// A directory of a Local store is not an object.
	if _, err := st.Stat(ctx(t), "recordings/2025"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat(prefix) = %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx(t), key); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	if ro, ok := st.(blob.RangeOpener); ok {
		if rc, _, err := ro.OpenRange(ctx(t), key, 0, 10); !errors.Is(err, blob.ErrNotFound) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("OpenRange(missing) = %v, want ErrNotFound", err)
		}
	}
}

func testOverwrite(t *testing.T, st blob.Store, q Quirks) {
	const key = "transcripts/2025/09/13/c.json"
	put(t, st, key, pattern(2, 5000), wavAttrs)
	second := []byte(`{"transcript":"call me back"}`)
	put(t, st, key, second, blob.Attrs{ContentType: "application/json"})
	got, info := read(t, st, key)
	if !bytes.Equal(got, second) {
		t.Fatalf("after overwrite read %q, want %q", got, second)
	}
	if q.MergesMetadataOnOverwrite && len(info.Metadata) != 0 {
		t.Logf("tolerated quirk: overwrite kept metadata %v", info.Metadata)
		info.Metadata = nil
	}
	if info.ContentType != "application/json" || len(info.Metadata) != 0 {
		t.Errorf("after overwrite ContentType %q Metadata %v, want application/json and none", info.ContentType, info.Metadata)
	}
	if info.Size != int64(len(second)) {
		t.Errorf("after overwrite Size %d, want %d", info.Size, len(second))
	}
}

func testFailedPutKeepsOld(t *testing.T, st blob.Store, _ Quirks) {
	const key = "recordings/2025/09/13/keep.wav"
	old := []byte("old content")
	put(t, st, key, old, wavAttrs)
	boom := errors.New("source broke")
	for _, n := range []int{1000, 6 << 20} { // in the first part, and after it
		r := io.MultiReader(bytes.NewReader(pattern(3, n)), iotest.ErrReader(boom))
		err := st.Put(ctx(t), key, onlyReader{r}, blob.Attrs{})
		if !errors.Is(err, boom) {
			t.Errorf("Put from a reader failing after %d bytes = %v, want %v", n, err, boom)
		}
		if got, info := read(t, st, key); !bytes.Equal(got, old) || info.ContentType != "audio/wav" {
			t.Errorf("after failed Put: %d bytes, ContentType %q; want the old object", len(got), info.ContentType)
		}
	}
	cctx, cancel := context.WithCancel(ctx(t))
	cancel()
	if err := st.Put(cctx, key, bytes.NewReader([]byte("new")), blob.Attrs{}); err == nil {
		t.Error("Put with a cancelled context succeeded")
	}
	if got, _ := read(t, st, key); !bytes.Equal(got, old) {
		t.Errorf("after cancelled Put read %q, want %q", got, old)
	}
}

func testDelete(t *testing.T, st blob.Store, _ Quirks) {
	const key = "recordings/2025/09/13/gone.wav"
	const sibling = "recordings/2025/09/13/stays.wav"
	put(t, st, key, []byte("bye"), wavAttrs)
	put(t, st, sibling, []byte("hi"), blob.Attrs{})
	if err := st.Delete(ctx(t), key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := st.Stat(ctx(t), key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat after Delete = %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx(t), key); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	if got, _ := read(t, st, sibling); string(got) != "hi" {
		t.Errorf("sibling reads %q after Delete", got)
	}
	// Re-creating a deleted key starts without the old attributes.
	put(t, st, key, []byte("again"), blob.Attrs{})
	if _, info := read(t, st, key); len(info.Metadata) != 0 {
		t.Errorf("re-created object has Metadata %v", info.Metadata)
	}
	keys := listKeys(t, st, "")
	if !slices.Equal(keys, []string{key, sibling}) {
		t.Errorf("List after Delete = %v", keys)
	}
}

func listKeys(t *testing.T, st blob.Store, prefix string) []string {
	t.Helper()
	var keys []string
	for info, err := range st.List(ctx(t), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		keys = append(keys, info.Key)
	}
	slices.Sort(keys)
	return keys
}

func testList(t *testing.T, st blob.Store, _ Quirks) {
	objects := map[string]int{
		"recordings/2025/09/13/a.wav":   10,
		"recordings/2025/09/14/b.wav":   20,
		"recordings/2025/10/01/c.wav":   30,
		"recordings-old/x.wav":          1,
		"transcripts/2025/09/13/a.json": 5,
	}
	before := time.Now().Add(-time.Minute)
	for k, n := range objects {
		put(t, st, k, pattern(4, n), blob.Attrs{})
	}
	const (
		a   = "recordings/2025/09/13/a.wav"
		b   = "recordings/2025/09/14/b.wav"
		c   = "recordings/2025/10/01/c.wav"
		old = "recordings-old/x.wav"
		tr  = "transcripts/2025/09/13/a.json"
	)
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", []string{old, a, b, c, tr}},
		{"recordings/", []string{a, b, c}},
		{"recordings", []string{old, a, b, c}},
		{"recordings/2025/09/", []string{a, b}},
		{"recordings/2025/09/1", []string{a, b}},
		{"recordings/2025/09/13/", []string{a}},
		{"recordings/2025/09/13/a", []string{a}},
		{"recordings/2025/09/13/a.wav", []string{a}},
		{"recordings/2025/09/13/a.wav/", nil},
		{"transcripts/", []string{tr}},
		{"nothing/", nil},
		{"nothing", nil},
	}
	for _, c := range cases {
		if got := listKeys(t, st, c.prefix); !slices.Equal(got, c.want) {
			t.Errorf("List(%q) = %v, want %v", c.prefix, got, c.want)
		}
	}
	for info, err := range st.List(ctx(t), "recordings/") {
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(objects[info.Key]) {
			t.Errorf("List: %s Size %d, want %d", info.Key, info.Size, objects[info.Key])
		}
		if info.ModTime.Before(before) {
			t.Errorf("List: %s ModTime %v, want about now", info.Key, info.ModTime)
		}
	}
	n := 0
	for _, err := range st.List(ctx(t), "") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		break // stopping early must not panic
	}
	if n != 1 {
		t.Errorf("early break saw %d objects", n)
	}
	for _, err := range st.List(ctx(t), "../") {
		if !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf(`List("../") yielded %v, want ErrInvalidKey`, err)
		}
	}
}

func testInvalidKey(t *testing.T, st blob.Store, _ Quirks) {
	for _, key := range []string{"", ".", "/abs.wav", "../up.wav", "a/../b.wav", "a//b.wav", "a/", ".meta/x", "a/.tmp/x", `a\b.wav`} {
		if err := st.Put(ctx(t), key, bytes.NewReader(nil), blob.Attrs{}); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, _, err := st.Open(ctx(t), key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := st.Stat(ctx(t), key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := st.Delete(ctx(t), key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

func testInvalidMetadata(t *testing.T, st blob.Store, _ Quirks) {
	for _, m := range []map[string]string{
		{"has space": "x"},
		{"": "x"},
		{"lang": "français"},
		{"lang": "line\nbreak"},
		{"Lang": "a", "lang": "b"},
	} {
		err := st.Put(ctx(t), "m.json", bytes.NewReader(nil), blob.Attrs{Metadata: m})
		if !errors.Is(err, blob.ErrInvalidMetadata) {
			t.Errorf("Put with metadata %q = %v, want ErrInvalidMetadata", m, err)
		}
	}
}

func testLargeStreaming(t *testing.T, st blob.Store, _ Quirks) {
	if testing.Short() {
		t.Skip("-short")
	}
	const key = "recordings/2025/09/13/large.wav"
	src := rand.NewChaCha8([32]byte{5})
	h := sha256.New()
	// The body is produced as it is read, never held whole.
	body := io.TeeReader(io.LimitReader(src, LargeSize), h)
	if err := st.Put(ctx(t), key, onlyReader{body}, wavAttrs); err != nil {
		t.Fatalf("Put %d bytes: %v", LargeSize, err)
	}
	want := h.Sum(nil)
	rc, info, err := st.Open(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h.Reset()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatal(err)
	}
	if n != LargeSize || info.Size != LargeSize || !bytes.Equal(h.Sum(nil), want) {
		t.Fatalf("read back %d bytes (Size %d), hash match %v; want %d", n, info.Size, bytes.Equal(h.Sum(nil), want), LargeSize)
	}
	if info.Metadata["vmx3_lang"] != "en-US" {
		t.Errorf("Metadata %v after a multipart upload", info.Metadata)
	}
}

func testConcurrent(t *testing.T, st blob.Store, _ Quirks) {
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			key := fmt.Sprintf("recordings/2025/09/13/c%d.wav", i)
			data := pattern(uint64(10+i), 10_000+i)
			if err := st.Put(c, key, bytes.NewReader(data), blob.Attrs{}); err != nil {
				errs <- err
				return
			}
			// Writers of the same key race; one of them wins whole.
			if err := st.Put(c, "recordings/2025/09/13/same.wav", bytes.NewReader(data), blob.Attrs{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, _ := read(t, st, "recordings/2025/09/13/same.wav")
	for i := range 8 {
		if bytes.Equal(got, pattern(uint64(10+i), 10_000+i)) {
			return
		}
	}
	t.Errorf("same.wav holds %d bytes from no single writer", len(got))
}

func testOpenRange(t *testing.T, st blob.Store, _ Quirks) {
	ro, ok := st.(blob.RangeOpener)
	if !ok {
		t.Skip("not a RangeOpener")
	}
	const key = "r.bin"
	data := pattern(6, 10_000)
	put(t, st, key, data, blob.Attrs{})
	cases := []struct{ off, n, wantEnd int64 }{
		{0, 100, 100},
		{44, 1, 45},
		{5000, 100, 5100},
		{5000, -1, 10_000},
		{9990, 100, 10_000},
		{9999, -1, 10_000},
		{0, 0, 0},
	}
	for _, c := range cases {
		rc, info, err := ro.OpenRange(ctx(t), key, c.off, c.n)
		if err != nil {
			t.Errorf("OpenRange(%d, %d): %v", c.off, c.n, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Errorf("OpenRange(%d, %d): read: %v", c.off, c.n, err)
			continue
		}
		want := data[c.off:max(c.off, c.wantEnd)]
		if !bytes.Equal(got, want) {
			t.Errorf("OpenRange(%d, %d) read %d bytes, want %d", c.off, c.n, len(got), len(want))
		}
		if info.Size != int64(len(data)) {
			t.Errorf("OpenRange(%d, %d) Size %d, want the object's %d", c.off, c.n, info.Size, len(data))
		}
	}
	for _, off := range []int64{10_000, 20_000} {
		if rc, _, err := ro.OpenRange(ctx(t), key, off, -1); !errors.Is(err, blob.ErrInvalidRange) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("OpenRange(%d) past the end = %v, want ErrInvalidRange", off, err)
		}
	}
}

func testOpenSeeker(t *testing.T, st blob.Store, _ Quirks) {
	so, ok := st.(blob.SeekOpener)
	if !ok {
		t.Skip("not a SeekOpener")
	}
	data := pattern(7, 3000)
	put(t, st, "s.bin", data, wavAttrs)
	f, info, err := so.OpenSeeker(ctx(t), "s.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if info.ContentType != "audio/wav" || info.Size != 3000 {
		t.Errorf("OpenSeeker info %+v", info)
	}
	if _, err := f.Seek(2000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, data[2000:]) {
		t.Errorf("after Seek(2000) read %d bytes, %v", len(got), err)
	}
}

func testPresignGet(t *testing.T, st blob.Store, _ Quirks) {
	p, ok := st.(blob.Presigner)
	if !ok {
		t.Skip("not a Presigner")
	}
	data := pattern(8, 4000)
	put(t, st, "p/x.wav", data, wavAttrs)
	u, err := p.PresignGet(ctx(t), "p/x.wav", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Errorf("GET presigned URL: %s, %d bytes, %v", resp.Status, len(got), err)
	}
	for _, ttl := range []time.Duration{0, -time.Second, 8 * 24 * time.Hour} {
		if _, err := p.PresignGet(ctx(t), "p/x.wav", ttl); err == nil {
			t.Errorf("PresignGet with ttl %s succeeded", ttl)
		}
	}
}
