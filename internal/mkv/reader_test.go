package mkv

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

var fixtureNames = []string{
	"synthetic/connect_voicemail_ca_layout.mkv",
	"synthetic/connect_voicemail_nn_layout.mkv",
	"synthetic/connect_stream_reuse.mkv",
	"synthetic/connect_gap_truncated_tail.mkv",
	"synthetic/gmffl_with_error_chunk.mkv",
	"real/test_mixed_tags.mkv",
	"real/test_tags_empty_cluster.mkv",
	"real/output-get-media-equal-timecode.mkv",
}

// summary condenses everything the reader yields into one comparable string.
func summary(t testing.TB, r io.Reader) (string, error) {
	t.Helper()
	fr := NewFragmentReader(r)
	h := sha256.New()
	for {
		f, err := fr.Next()
		if err == io.EOF {
			return fmt.Sprintf("%x", h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
		digestFragment(h, f)
	}
}

func digestFragment(w io.Writer, f *Fragment) {
	fmt.Fprintf(w, "%d %d %q %d %v %v %d %v %d\n", f.Offset, f.Size, f.DocType, f.TimecodeScale, f.Tracks, f.Tags, f.Timecode, f.Truncated, len(f.Blocks))
	for _, b := range f.Blocks {
		fmt.Fprintf(w, "%d %d %x ", b.Track, b.Timecode, b.Flags)
		w.Write(b.Data)
	}
}

// Short reads must not change what the reader yields.
func TestReaderShortReads(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, name)
			want, err := summary(t, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			for rname, r := range map[string]io.Reader{
				"one byte": iotest.OneByteReader(bytes.NewReader(data)),
				"half":     iotest.HalfReader(bytes.NewReader(data)),
				"data+EOF": iotest.DataErrReader(bytes.NewReader(data)),
			} {
				got, err := summary(t, r)
				if err != nil || got != want {
					t.Errorf("%s reader: summary differs (err %v)", rname, err)
				}
			}
		})
	}
}

func TestFixtureShapes(t *testing.T) {
	tests := []struct {
		name       string
		fragments  int
		blocks     int
		truncated  int
		errorChunk int
	}{
		{"synthetic/connect_voicemail_ca_layout.mkv", 20, 640, 0, 0},
		{"synthetic/connect_voicemail_nn_layout.mkv", 20, 640, 0, 0},
		{"synthetic/connect_stream_reuse.mkv", 19, 608, 0, 0},
		{"synthetic/connect_gap_truncated_tail.mkv", 5, 138, 1, 0},
		{"synthetic/gmffl_with_error_chunk.mkv", 3, 64, 0, 1},
		{"real/test_mixed_tags.mkv", 10, 100, 0, 0},
		{"real/test_tags_empty_cluster.mkv", 1, 0, 0, 0},
		{"real/output-get-media-equal-timecode.mkv", 2, 239, 1, 0}, // mkvinfo: 239 complete blocks
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := NewFragmentReader(bytes.NewReader(readFixture(t, tc.name)))
			var frags, blocks, truncated, errs int
			for {
				f, err := fr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				frags++
				blocks += len(f.Blocks)
				if f.Truncated {
					truncated++
				}
				if _, _, ok := f.ErrorChunk(); ok {
					errs++
				}
			}
			if frags != tc.fragments || blocks != tc.blocks || truncated != tc.truncated || errs != tc.errorChunk {
				t.Fatalf("fragments %d blocks %d truncated %d error chunks %d", frags, blocks, truncated, errs)
			}
		})
	}
}

func TestFragmentAccessors(t *testing.T) {
	fr := NewFragmentReader(bytes.NewReader(readFixture(t, "synthetic/connect_voicemail_nn_layout.mkv")))
	f, err := fr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if f.FragmentNumber() != "91343852333181551730076015714152110499652177365" || !f.Complete() {
		t.Fatalf("number %s complete %v", f.FragmentNumber(), f.Complete())
	}
	pt, _ := f.ProducerTime()
	st, _ := f.ServerTime()
	if !pt.Equal(time.UnixMilli(1767225600000)) || !st.Equal(time.UnixMilli(1767225599044)) {
		t.Fatalf("producer %v server %v", pt, st)
	}
	// The trailer is the last Tags element: 4-byte ID, 4-byte size, 161 bytes.
	if f.TrailerOffset != f.Offset+f.Size-169 {
		t.Fatalf("trailer at %d, want %d", f.TrailerOffset, f.Offset+f.Size-169)
	}
	if name, _ := f.TrackName(1); name != TrackFromCustomer {
		t.Fatalf("track 1 is %q", name)
	}
	// A tags-only chunk using the GetMediaForFragmentList spellings.
	chunk := appendEBMLHeader(nil)
	chunk = appendUnknownSegment(chunk)
	chunk = appendTagGroup(chunk, []Tag{{TagFragmentNumber, "7"}, {TagProducerSideTS, "12.5"}, {TagExceptionCode, "FRAGMENT_NOT_FOUND"}, {TagExceptionMessage, "gone"}})
	f, err = NewFragmentReader(bytes.NewReader(chunk)).Next()
	if err != nil {
		t.Fatal(err)
	}
	code, detail, ok := f.ErrorChunk()
	pt, _ = f.ProducerTime()
	if !ok || code != "FRAGMENT_NOT_FOUND" || detail != "gone" || !pt.Equal(time.UnixMilli(12500)) || f.Complete() {
		t.Fatalf("error chunk %q %q %v producer %v", code, detail, ok, pt)
	}
}

func TestCompareFragmentNumbers(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"9", "10", -1},
		{"10", "9", 1},
		{"0010", "10", 0},
		{"91343852333181551234900000000000000247559453086", "91343852333181551239851760157141521704076853500", -1},
		{"913438523331815512349", "91343852333181551234900000000000000247559453086", -1},
		{"0", "", 0},
	}
	for _, tc := range tests {
		if got := CompareFragmentNumbers(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareFragmentNumbers(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// Every kind of corrupt input is a *SyntaxError naming the offset, never a
// panic or a large allocation.
func TestReaderCorruptInput(t *testing.T) {
	valid, err := AppendConnectFragment(nil, &ConnectFragment{FragmentNumber: "1", From: make([]byte, 2048), To: make([]byte, 2048)})
	if err != nil {
		t.Fatal(err)
	}
	clusterAt := bytes.Index(valid, []byte{0x1F, 0x43, 0xB6, 0x75})
	blockAt := clusterAt + 5 + 10 + 3 // Cluster header, Timecode, Position
	// Unknown-size Tags, Tag and SimpleTag holding a 100,000-byte TagString.
	bigTag := appendUnknownSegment(appendEBMLHeader(nil))
	bigTag = append(bigTag, 0x12, 0x54, 0xC3, 0x67, 0xFF, 0x73, 0x73, 0xFF, 0x67, 0xC8, 0xFF)
	bigTagAt := len(bigTag)
	bigTag = append(bigTag, 0x44, 0x87, 0x10, 0x01, 0x86, 0xA0)
	patch := func(off int, b ...byte) []byte {
		c := bytes.Clone(valid)
		copy(c[off:], b)
		return c
	}
	tests := map[string]struct {
		in        []byte
		offset    int64
		wantLarge bool
	}{
		"garbage first byte":     {in: []byte{0x00, 0x01, 0x02}, offset: 0},
		"not an EBML header":     {in: []byte{0xA3, 0x81, 0x00}, offset: 0},
		"unknown-size leaf":      {in: patch(blockAt+1, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF), offset: int64(blockAt)},
		"block bigger than 64M":  {in: patch(blockAt+1, 0x01, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF), offset: int64(blockAt), wantLarge: true},
		"block of 1 byte":        {in: patch(blockAt+1, 0x01, 0, 0, 0, 0, 0, 0, 0x01), offset: int64(blockAt)},
		"zero size byte":         {in: patch(clusterAt+4, 0x00), offset: int64(clusterAt)},
		"huge EBML header":       {in: patch(4, 0x01, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00), offset: 0},
		"child past its parent":  {in: patch(bytes.Index(valid, []byte{0xAE, 0x10})+1, 0x10, 0x00, 0x10, 0x00), offset: int64(bytes.Index(valid, []byte{0xAE, 0x10}))},
		"tag string too large":   {in: bigTag, offset: int64(bigTagAt), wantLarge: true},
		"uint of 9 bytes":        {in: patch(bytes.Index(valid, []byte{0xE7, 0x88})+1, 0x89), offset: int64(bytes.Index(valid, []byte{0xE7, 0x88}))},
		"truncated first header": {in: valid[:3], offset: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fr := NewFragmentReader(bytes.NewReader(tc.in))
			var err error
			for err == nil {
				_, err = fr.Next()
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T), want *SyntaxError", err, err)
			}
			if se.Offset != tc.offset {
				t.Fatalf("offset %d, want %d (%v)", se.Offset, tc.offset, err)
			}
			if errors.Is(err, ErrTooLarge) != tc.wantLarge {
				t.Fatalf("ErrTooLarge %v, want %v (%v)", errors.Is(err, ErrTooLarge), tc.wantLarge, err)
			}
			if _, again := fr.Next(); again != err {
				t.Fatalf("error not sticky: %v then %v", err, again)
			}
		})
	}
}

// A 1A45DFA3 inside PCM must not be taken for a fragment boundary.
func TestEBMLMagicInsidePCM(t *testing.T) {
	pcm := bytes.Repeat([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x18, 0x53, 0x80, 0x67}, 300)
	stream, err := AppendConnectFragment(nil, &ConnectFragment{FragmentNumber: "5", From: pcm, To: pcm})
	if err != nil {
		t.Fatal(err)
	}
	fr := NewFragmentReader(bytes.NewReader(stream))
	f, err := fr.Next()
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, b := range f.Blocks {
		if name, _ := f.TrackName(b.Track); name == TrackFromCustomer {
			got = append(got, b.Data...)
		}
	}
	if !bytes.Equal(got, pcm) {
		t.Fatal("PCM holding EBML magic was not read back whole")
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("second Next: %v, want EOF", err)
	}
}

func TestLacing(t *testing.T) {
	// Known-size Segment and Cluster, with one block per lacing mode.
	var cluster []byte
	cluster = appendElem(cluster, idTimecode, 1, []byte{100})
	payload := []byte("abcdefgh")
	for _, tc := range []struct {
		flags  byte
		header []byte
	}{
		{0x80, nil},
		{0x82, []byte{1, 3}},         // Xiph: 2 frames, first of 3 bytes
		{0x86, []byte{1}},            // fixed: 2 frames of 4
		{0x84, []byte{1, 0x83}},      // EBML: 2 frames, first of 3 bytes
		{0x82, []byte{2, 255, 1, 1}}, // Xiph: 3 frames, sizes 256 and 1 (lengths unchecked)
	} {
		body := append([]byte{0x81, 0x00, 0x05, tc.flags}, tc.header...)
		body = append(body, payload...)
		cluster = appendElem(cluster, idSimpleBlock, 2, body)
	}
	seg := appendElem(nil, idCluster, 4, cluster)
	stream := appendEBMLHeader(nil)
	stream = appendElem(stream, idSegment, 4, seg)
	f, err := NewFragmentReader(bytes.NewReader(stream)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Blocks) != 5 {
		t.Fatalf("%d blocks", len(f.Blocks))
	}
	for i, b := range f.Blocks {
		if !bytes.Equal(b.Data, payload) || b.Timecode != 105 {
			t.Errorf("block %d: data %q timecode %d", i, b.Data, b.Timecode)
		}
	}
}

// A fragment whose block data exceeds MaxFragmentBytes is refused.
func TestMaxFragmentBytes(t *testing.T) {
	stream, _ := AppendConnectFragment(nil, &ConnectFragment{FragmentNumber: "1", From: make([]byte, 8192), To: make([]byte, 8192)})
	fr := NewFragmentReader(bytes.NewReader(stream))
	fr.MaxFragmentBytes = 10_000
	_, err := fr.Next()
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
}

// A clone stays intact when the reader reuses its memory for the next
// fragment.
func TestFragmentClone(t *testing.T) {
	data := readFixture(t, "synthetic/connect_voicemail_ca_layout.mkv")
	fr := NewFragmentReader(bytes.NewReader(data))
	f, err := fr.Next()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := summary(t, bytes.NewReader(data[:f.Size]))
	c := f.Clone()
	if _, err := fr.Next(); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	digestFragment(h, c)
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != want {
		t.Fatal("clone changed when the reader moved on")
	}
}

// A live GetMedia stream holds each fragment open until the next begins,
// a second later in Connect's streams; the trailing MILLIS_BEHIND_NOW and
// CONTINUATION_TOKEN tags end it. The reader must hand the fragment out
// when the trailer arrives, reading nothing past it, and read on after it.
func TestFragmentEndsAtGetMediaTrailer(t *testing.T) {
	var stream [][]byte
	for i, layout := range []Layout{LayoutCA, LayoutNN} {
		f, err := AppendConnectFragment(nil, &ConnectFragment{
			Layout: layout, FragmentNumber: fmt.Sprint(100 + i), ContactID: "c-1",
			From: make([]byte, 2048), To: make([]byte, 2048),
			Trailer: &Trailer{MillisBehindNow: 10, ContinuationToken: fmt.Sprint(100 + i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, f)
	}
	pr, pw := io.Pipe()
	fr := NewFragmentReader(pr)
	got := make(chan string)
	go func() {
		defer close(got)
		for {
			f, err := fr.Next()
			if err != nil {
				got <- err.Error()
				return
			}
			got <- fmt.Sprintf("%s complete=%v blocks=%d", f.FragmentNumber(), f.Complete(), len(f.Blocks))
		}
	}()
	for i, b := range stream {
		if _, err := pw.Write(b); err != nil {
			t.Fatal(err)
		}
		// The writer is now blocked until the reader wants more: the
		// fragment must come out without another byte.
		want := fmt.Sprintf("%d complete=true blocks=4", 100+i)
		if g := <-got; g != want {
			t.Fatalf("fragment %d: got %q, want %q", i, g, want)
		}
	}
	pw.Close()
	if g := <-got; g != io.EOF.Error() {
		t.Fatalf("after the last fragment: %q, want EOF", g)
	}
}
