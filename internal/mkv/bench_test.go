package mkv_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/kvstest"
	"github.com/vmx-dev/vmx/internal/mkv"
)

// capture returns a GetMedia capture of a call of the given length in
// Connect's CA layout. Parsing does not look at the audio, so a fixed
// pattern stands in for speech.
func capture(tb testing.TB, d time.Duration) []byte {
	tb.Helper()
	seq := mkv.NewSequence(time.Unix(1767225600, 0), "bench")
	tmpl := mkv.ConnectFragment{ContactID: kvstest.ContactA, InstanceID: kvstest.InstanceID, Trailer: &mkv.Trailer{}}
	pcm := make([]byte, 16384)
	for i := range pcm {
		pcm[i] = byte(i * 7)
	}
	var out []byte
	for t := time.Duration(0); t < d; t += 1024 * time.Millisecond {
		f := seq.Fragment(tmpl, pcm, pcm)
		var err error
		if out, err = mkv.AppendConnectFragment(out, &f); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

func TestSequence(t *testing.T) {
	fr := mkv.NewFragmentReader(bytes.NewReader(capture(t, 10*time.Second)))
	var prev string
	for i := 0; ; i++ {
		f, err := fr.Next()
		if err == io.EOF {
			if i != 10 {
				t.Fatalf("%d fragments, want 10", i)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _ := f.ProducerTime()
		st, _ := f.ServerTime()
		num := f.FragmentNumber()
		if len(num) != 47 || (prev != "" && mkv.CompareFragmentNumbers(prev, num) >= 0) || !f.Complete() ||
			!pt.Equal(time.Unix(1767225600, 0).Add(time.Duration(i)*1024*time.Millisecond)) || st.Sub(pt) < 170*time.Millisecond || st.Sub(pt) > 210*time.Millisecond {
			t.Fatalf("fragment %d: number %s after %s, producer %v, server %v, complete %v", i, num, prev, pt, st, f.Complete())
		}
		prev = num
	}
}

// BenchmarkFragmentReader parses a 25-minute call held in memory.
func BenchmarkFragmentReader(b *testing.B) {
	data := capture(b, 25*time.Minute)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		fr := mkv.NewFragmentReader(bytes.NewReader(data))
		for {
			if _, err := fr.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
