package mkv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/vmx-dev/vmx/internal/kvstest"
)

// FuzzFragmentReader checks, for any input: no panic; errors are
// *SyntaxError at an offset inside the input; fragments lie inside the input
// in order; block data never exceeds the input; and the result does not
// depend on how the input is split into reads.
func FuzzFragmentReader(f *testing.F) {
	// Every fixture's start, and whole inputs up to maxSeed, one Connect
	// fragment (34,768 bytes): a whole small fixture, else its first and
	// last fragments (a truncated tail, an error chunk), so that the corpus
	// reaches the ends of Clusters and the trailing tags. Larger seeds slow
	// every execution, and the minimising of what they lead to (bound it
	// with -fuzzminimizetime).
	const maxSeed = 40 << 10
	for _, name := range fixtureNames {
		b, err := os.ReadFile(filepath.Join(kvstest.Dir(), name))
		if err != nil {
			continue
		}
		f.Add(b[:min(len(b), 3000)])
		if len(b) <= maxSeed {
			f.Add(b)
			continue
		}
		first, last := fragmentSpans(b)
		for _, span := range [][2]int64{first, last} {
			if n := span[1] - span[0]; n > 0 && n <= maxSeed {
				f.Add(b[span[0]:span[1]])
			}
		}
	}
	for _, layout := range []Layout{LayoutCA, LayoutNN} {
		var two []byte
		for i, n := range []string{"91343852333181551234900000000000000247559453086", "91343852333181551239851760157141521704076853500"} {
			two, _ = AppendConnectFragment(two, &ConnectFragment{
				Layout: layout, ContactID: "c", FragmentNumber: n, From: make([]byte, 40+i), To: make([]byte, 24),
				BlockBytes: 16, FromFirst: layout == LayoutNN, Trailer: &Trailer{MillisBehindNow: 5, ContinuationToken: n},
			})
		}
		f.Add(two)
	}
	f.Add(AppendErrorChunk(nil, "2", "FRAGMENT_NOT_FOUND", "3000"))
	f.Fuzz(func(t *testing.T, in []byte) {
		want, err := checkStream(t, bytes.NewReader(in), int64(len(in)))
		got, err2 := checkStream(t, iotest.OneByteReader(bytes.NewReader(in)), int64(len(in)))
		if want != got || (err == nil) != (err2 == nil) {
			t.Fatalf("one-byte reads changed the result: %q/%v vs %q/%v", want, err, got, err2)
		}
	})
}

// fragmentSpans returns the byte spans of the first and last fragments of
// b, or empty spans when b does not parse.
func fragmentSpans(b []byte) (first, last [2]int64) {
	fr := NewFragmentReader(bytes.NewReader(b))
	for i := 0; ; i++ {
		f, err := fr.Next()
		if err != nil {
			return first, last
		}
		last = [2]int64{f.Offset, f.Offset + f.Size}
		if i == 0 {
			first = last
		}
	}
}

func checkStream(t *testing.T, r io.Reader, n int64) (string, error) {
	fr := NewFragmentReader(r)
	var end int64
	var blockBytes int64
	var sum bytes.Buffer
	for {
		f, err := fr.Next()
		if err == io.EOF {
			return sum.String(), nil
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			}
			if se.Offset < 0 || se.Offset > n {
				t.Fatalf("error offset %d outside a %d-byte input", se.Offset, n)
			}
			return sum.String(), err
		}
		if f.Offset < end || f.Offset+f.Size > n || f.Size <= 0 {
			t.Fatalf("fragment [%d,+%d) out of order or outside a %d-byte input (previous end %d)", f.Offset, f.Size, n, end)
		}
		end = f.Offset + f.Size
		for _, b := range f.Blocks {
			blockBytes += int64(len(b.Data))
			sum.Write(b.Data)
		}
		if blockBytes > n {
			t.Fatalf("%d bytes of block data from a %d-byte input", blockBytes, n)
		}
		sum.WriteString(f.FragmentNumber())
	}
}

// FuzzConnectRoundTrip writes PCM as a Connect fragment and reads it back.
func FuzzConnectRoundTrip(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, []byte{5, 6}, true, uint16(1024))
	f.Add(make([]byte, 5000), []byte{}, false, uint16(2))
	f.Fuzz(func(t *testing.T, from, to []byte, nn bool, block uint16) {
		from, to = from[:len(from)&^1], to[:len(to)&^1]
		cf := &ConnectFragment{FragmentNumber: "91343852333181551234900000000000000247559453086", From: from, To: to, FromFirst: nn, BlockBytes: int(block&^1) + 2}
		if nn {
			cf.Layout = LayoutNN
		}
		if len(from)/cf.BlockBytes > 30000 {
			return
		}
		stream, err := AppendConnectFragment(nil, cf)
		if err != nil {
			return // fragments too long for a block timecode are refused
		}
		frag, err := NewFragmentReader(bytes.NewReader(stream)).Next()
		if err != nil {
			t.Fatal(err)
		}
		var gotFrom, gotTo []byte
		for _, b := range frag.Blocks {
			switch name, _ := frag.TrackName(b.Track); name {
			case TrackFromCustomer:
				gotFrom = append(gotFrom, b.Data...)
			case TrackToCustomer:
				gotTo = append(gotTo, b.Data...)
			}
		}
		if !bytes.Equal(gotFrom, from) || !bytes.Equal(gotTo, to) {
			t.Fatalf("round trip changed the PCM: %d/%d bytes, want %d/%d", len(gotFrom), len(gotTo), len(from), len(to))
		}
	})
}
