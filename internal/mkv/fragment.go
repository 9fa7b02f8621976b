package mkv

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Track is a TrackEntry of a fragment.
type Track struct {
	Number  uint64
	UID     uint64
	Type    uint64
	Name    string
	CodecID string
}

// Tag is one SimpleTag. Nested SimpleTags are listed in stream order after
// their parent.
type Tag struct {
	Name  string
	Value string
}

// Block is the payload of a SimpleBlock or Block. Lacing headers are removed,
// so Data holds the frames back to back.
type Block struct {
	Track    uint64
	Timecode int64 // absolute: cluster timecode plus the block's relative timecode
	Flags    byte
	Data     []byte // aliases the reader's buffer; valid until the next call to Next

	off, n int // position of Data in the reader's arena
}

// Fragment is one KVS chunk: an EBML header and its Segment.
type Fragment struct {
	Offset        int64 // byte offset of the fragment's first element
	Size          int64 // bytes of input the fragment spans
	DocType       string
	TimecodeScale uint64 // nanoseconds per timecode unit; 1,000,000 when absent
	Tracks        []Track
	Tags          []Tag
	HasCluster    bool
	Timecode      uint64 // timecode of the first cluster
	Blocks        []Block
	// TrailerOffset is the stream offset of the Tags element that holds the
	// MILLIS_BEHIND_NOW and CONTINUATION_TOKEN tags GetMedia appends, or 0.
	TrailerOffset int64
	// Truncated is set when the input ended, or a new EBML header began, inside
	// an element or a known-size master: only complete blocks are kept.
	Truncated bool
}

func (f *Fragment) reset(off int64) {
	*f = Fragment{
		Offset:        off,
		TimecodeScale: 1_000_000,
		Tracks:        f.Tracks[:0],
		Tags:          f.Tags[:0],
		Blocks:        f.Blocks[:0],
	}
}

// Clone returns a deep copy of f that stays valid after the reader moves on.
func (f *Fragment) Clone() *Fragment {
	c := *f
	c.Tracks = slices.Clone(f.Tracks)
	c.Tags = slices.Clone(f.Tags)
	c.Blocks = slices.Clone(f.Blocks)
	n := 0
	for _, b := range f.Blocks {
		n += len(b.Data)
	}
	arena := make([]byte, 0, n)
	for i := range c.Blocks {
		start := len(arena)
		arena = append(arena, c.Blocks[i].Data...)
		c.Blocks[i].Data = arena[start:len(arena):len(arena)]
	}
	return &c
}

// Tag returns the value of the first SimpleTag with the given name.
func (f *Fragment) Tag(name string) (string, bool) {
	for _, t := range f.Tags {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// TrackName returns the Name of the track with the given number.
func (f *Fragment) TrackName(number uint64) (string, bool) {
	for _, t := range f.Tracks {
		if t.Number == number {
			return t.Name, true
		}
	}
	return "", false
}

// KVS tag names. GetMediaForFragmentList documents the *_SIDE_TIMESTAMP and
// *_EXCEPTION_* spellings while the service has been seen sending the GetMedia
// ones; both are accepted.
const (
	TagFragmentNumber    = "AWS_KINESISVIDEO_FRAGMENT_NUMBER"
	TagServerTimestamp   = "AWS_KINESISVIDEO_SERVER_TIMESTAMP"
	TagProducerTimestamp = "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"
	TagServerSideTS      = "AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP"
	TagProducerSideTS    = "AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP"
	TagMillisBehindNow   = "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW"
	TagContinuationToken = "AWS_KINESISVIDEO_CONTINUATION_TOKEN"
	TagErrorCode         = "AWS_KINESISVIDEO_ERROR_CODE"
	TagErrorID           = "AWS_KINESISVIDEO_ERROR_ID"
	TagExceptionCode     = "AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE"
	TagExceptionMessage  = "AWS_KINESISVIDEO_EXCEPTION_MESSAGE"

	TagContactID  = "ContactId"
	TagInstanceID = "InstanceId"
	TagMimeType   = "MimeType"
)

// FragmentNumber returns the KVS fragment number tag.
func (f *Fragment) FragmentNumber() string {
	v, _ := f.Tag(TagFragmentNumber)
	return v
}

// ProducerTime returns the producer timestamp tag, falling back to the
// cluster timecode.
func (f *Fragment) ProducerTime() (time.Time, bool) {
	if t, ok := f.tagTime(TagProducerTimestamp, TagProducerSideTS); ok {
		return t, true
	}
	if f.HasCluster {
		return time.Unix(0, int64(f.Timecode*f.TimecodeScale)), true
	}
	return time.Time{}, false
}

// ServerTime returns the server timestamp tag.
func (f *Fragment) ServerTime() (time.Time, bool) {
	return f.tagTime(TagServerTimestamp, TagServerSideTS)
}

func (f *Fragment) tagTime(names ...string) (time.Time, bool) {
	v, ok := f.firstTag(names...)
	if !ok {
		return time.Time{}, false
	}
	t, err := ParseKVSTime(v)
	return t, err == nil
}

// ParseKVSTime parses a KVS timestamp tag: decimal seconds since the epoch
// with an optional fraction ("1782912654.706").
func ParseKVSTime(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var nanos int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, strconv.ErrSyntax
		}
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		nanos = n
	}
	return time.Unix(secs, nanos), nil
}

// ErrorChunk reports whether the fragment is an in-band error chunk, with its
// code (FRAGMENT_NOT_FOUND, …) and its id or message.
func (f *Fragment) ErrorChunk() (code, detail string, ok bool) {
	code, okCode := f.firstTag(TagErrorCode, TagExceptionCode)
	detail, okDetail := f.firstTag(TagErrorID, TagExceptionMessage)
	return code, detail, okCode || okDetail
}

func (f *Fragment) firstTag(names ...string) (string, bool) {
	for _, n := range names {
		if v, ok := f.Tag(n); ok {
			return v, true
		}
	}
	return "", false
}

// Complete reports whether GetMedia marked the fragment as complete: it
// carries the trailing MILLIS_BEHIND_NOW and CONTINUATION_TOKEN tags.
func (f *Fragment) Complete() bool {
	_, a := f.Tag(TagMillisBehindNow)
	_, b := f.Tag(TagContinuationToken)
	return a && b && !f.Truncated
}

// CompareFragmentNumbers compares two decimal fragment numbers as integers of
// any length: -1 if a < b, 0 if equal, +1 if a > b. Both must be decimal
// strings (see ValidFragmentNumber).
func CompareFragmentNumbers(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return strings.Compare(a, b)
}

// ValidFragmentNumber reports whether s is a KVS fragment number: 1 to 128
// decimal digits.
func ValidFragmentNumber(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
