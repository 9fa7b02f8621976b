package mkv

import (
	"bytes"
	"strconv"
	"testing"
	"time"
)

// TestWriterReproducesFixtures rebuilds every fragment of the synthetic
// Connect captures from what the reader parsed out of them and requires the
// writer's bytes to equal the capture's: the writer is byte-faithful to both
// observed layouts, and the reader loses nothing the layout carries.
func TestWriterReproducesFixtures(t *testing.T) {
	manifest := readManifest(t)
	for _, name := range []string{
		"connect_voicemail_ca_layout.mkv",
		"connect_voicemail_nn_layout.mkv",
		"connect_stream_reuse.mkv",
		"gmffl_with_error_chunk.mkv",
	} {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, "synthetic/"+name)
			fr := NewFragmentReader(bytes.NewReader(data))
			entries := manifest[name]
			for i := 0; ; i++ {
				f, err := fr.Next()
				if err != nil {
					if i != len(entries) {
						t.Fatalf("read %d fragments, manifest lists %d (err %v)", i, len(entries), err)
					}
					break
				}
				want := data[f.Offset : f.Offset+f.Size]
				var got []byte
				if entries[i].ErrorChunk {
					code, id, ok := f.ErrorChunk()
					if !ok {
						t.Fatalf("fragment %d: not recognised as an error chunk", i)
					}
					got = AppendErrorChunk(nil, f.FragmentNumber(), code, id)
				} else {
					got = rebuild(t, data, f, entries[i])
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("fragment %d: rebuilt %d bytes differ from the capture's %d (first difference at %d)", i, len(got), len(want), firstDiff(got, want))
				}
			}
		})
	}
}

func rebuild(t *testing.T, data []byte, f *Fragment, e manifestEntry) []byte {
	t.Helper()
	cf := &ConnectFragment{
		ContactID:      e.ContactID,
		InstanceID:     mustTag(t, f, TagInstanceID),
		FragmentNumber: e.FragmentNumber,
		Producer:       time.UnixMilli(e.ProducerMS),
		Server:         time.UnixMilli(e.ServerMS),
		FromFirst:      e.TrackOrder[0] == TrackFromCustomer,
	}
	if e.Layout == "NN" {
		cf.Layout = LayoutNN
	}
	// SegmentUID is random per fragment; the reader does not keep it.
	copy(cf.SegmentUID[:], data[f.Offset+61:f.Offset+77])
	for _, b := range f.Blocks {
		name, _ := f.TrackName(b.Track)
		switch name {
		case TrackFromCustomer:
			cf.From = append(cf.From, b.Data...)
		case TrackToCustomer:
			cf.To = append(cf.To, b.Data...)
		}
	}
	if v, ok := f.Tag(TagMillisBehindNow); ok {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		cf.Trailer = &Trailer{MillisBehindNow: ms, ContinuationToken: mustTag(t, f, TagContinuationToken)}
	}
	got, err := AppendConnectFragment(nil, cf)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustTag(t *testing.T, f *Fragment, name string) string {
	t.Helper()
	v, ok := f.Tag(name)
	if !ok {
		t.Fatalf("fragment at %d has no %s tag", f.Offset, name)
	}
	return v
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
