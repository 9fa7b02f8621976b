package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"strings"
	"time"
)

// Errors the stores report; test for them with errors.Is.
var (
	// ErrNotFound reports a key that does not exist.
	ErrNotFound = errors.New("blob not found")
	// ErrInvalidKey reports a key that is empty, absolute, has empty, "."
	// or ".." elements, or an element starting with a dot.
	ErrInvalidKey = errors.New("invalid blob key")
	// ErrInvalidMetadata reports a metadata key or value that S3 could not
	// carry as an x-amz-meta-* header.
	ErrInvalidMetadata = errors.New("invalid blob metadata")
	// ErrInvalidRange reports a range that starts at or past the end of
	// the object.
	ErrInvalidRange = errors.New("invalid blob range")
)

// Attrs are what a writer says about an object besides its bytes.
type Attrs struct {
	// ContentType is the media type, such as "audio/wav". Stores return
	// what was stored; when it was empty, S3 servers may return a default.
	ContentType string
	// Metadata holds short ASCII strings: contact ID, language, queue ARN.
	// Keys are case-insensitive and come back lower-case; they may hold
	// letters, digits, '-' and '_'. Values are printable ASCII.
	Metadata map[string]string
}

// Info describes a stored object.
type Info struct {
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ModTime is when the object was last written. S3 keeps it to the
	// second.
	ModTime time.Time
	// Attrs are those given to Put. List leaves them empty: S3 listings do
	// not carry them.
	Attrs
}

// Store is a blob store. Implementations are safe for concurrent use.
//
// A reader never sees a partly written object: Put replaces an object
// whole, or not at all when it fails.
type Store interface {
	// Put stores the bytes of r under key, replacing any object there. It
	// reads r to io.EOF without seeking and keeps at most a bounded buffer
	// in memory, whatever the length.
	Put(ctx context.Context, key string, r io.Reader, attrs Attrs) error
	// Open returns the object's content, which the caller must close, and
	// its description.
	Open(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Stat describes the object without reading it.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List yields the objects whose keys start with prefix, with Key, Size
	// and ModTime set, in no promised order. An error ends the sequence. A
	// prefix is a plain string prefix ("recordings/2025/0" matches both
	// ".../09/..." and ".../01/..."), so its directory part must be a valid
	// key.
	List(ctx context.Context, prefix string) iter.Seq2[Info, error]
}

// RangeOpener is implemented by stores that can read part of an object
// without reading what comes before it.
type RangeOpener interface {
	// OpenRange returns n bytes of the object starting at off, or all bytes
	// from off when n < 0. Fewer bytes come back when the object ends
	// first. An off at or past the end is ErrInvalidRange. Info describes
	// the whole object.
	OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, Info, error)
}

// SeekOpener is implemented by stores that can hand out a seekable object,
// as http.ServeContent needs for Range and conditional requests.
type SeekOpener interface {
	OpenSeeker(ctx context.Context, key string) (io.ReadSeekCloser, Info, error)
}

// Presigner is implemented by stores that can make a URL which lets its
// holder GET the object without credentials until ttl passes.
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// RecordingKey is the key of a contact's voicemail recording:
// "recordings/YYYY/MM/DD/<contactId>.wav", dated by the call's UTC day.
func RecordingKey(callTime time.Time, contactID string) string {
	return datedKey("recordings", callTime, contactID, ".wav")
}

// TranscriptKey is the key of a contact's transcript:
// "transcripts/YYYY/MM/DD/<contactId>.json", dated by the call's UTC day.
func TranscriptKey(callTime time.Time, contactID string) string {
	return datedKey("transcripts", callTime, contactID, ".json")
}

func datedKey(kind string, t time.Time, contactID, ext string) string {
	return kind + "/" + t.UTC().Format("2006/01/02") + "/" + contactID + ext
}

// ValidKey reports whether key can name an object: a relative slash path
// without empty, "." or ".." elements and without elements starting with a
// dot (Local keeps its own files under such names).
func ValidKey(key string) bool {
	if !fs.ValidPath(key) || key == "." {
		return false
	}
	for elem := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(elem, ".") || strings.ContainsRune(elem, '\\') {
			return false
		}
	}
	return true
}

func checkKey(op, key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("blob: %s %q: %w", op, key, ErrInvalidKey)
	}
	return nil
}

// checkPrefix accepts "" and any prefix whose directory part is a valid key.
func checkPrefix(prefix string) error {
	dir, _ := splitPrefix(prefix)
	if dir != "" && !ValidKey(dir) {
		return fmt.Errorf("blob: list %q: %w", prefix, ErrInvalidKey)
	}
	return nil
}

// splitPrefix splits a list prefix at its last slash.
func splitPrefix(prefix string) (dir, base string) {
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return "", prefix
	}
	return prefix[:i], prefix[i+1:]
}

// normalize checks attrs and returns a copy with lower-case metadata keys.
func (a Attrs) normalize() (Attrs, error) {
	if len(a.Metadata) == 0 {
		return Attrs{ContentType: a.ContentType}, nil
	}
	m := make(map[string]string, len(a.Metadata))
	for k, v := range a.Metadata {
		lk := strings.ToLower(k)
		if !validMetaKey(lk) {
			return Attrs{}, fmt.Errorf("blob: metadata key %q: %w", k, ErrInvalidMetadata)
		}
		if !printableASCII(v) {
			return Attrs{}, fmt.Errorf("blob: metadata %q value %q: %w", k, v, ErrInvalidMetadata)
		}
		if _, dup := m[lk]; dup {
			return Attrs{}, fmt.Errorf("blob: metadata key %q given twice: %w", lk, ErrInvalidMetadata)
		}
		m[lk] = v
	}
	return Attrs{ContentType: a.ContentType, Metadata: m}, nil
}

func validMetaKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// notFound wraps cause so that errors.Is finds both ErrNotFound and cause.
func notFound(op, key string, cause error) error {
	return fmt.Errorf("blob: %s %q: %w (%w)", op, key, ErrNotFound, cause)
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
