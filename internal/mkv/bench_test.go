package mkv

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/synth"
)

// connectStream returns a GetMedia capture of a call of the given length in
// Connect's CA layout.
func connectStream(tb testing.TB, d time.Duration) []byte {
	tb.Helper()
	seq := NewSequence(time.Unix(1767225600, 0), "bench")
	tmpl := ConnectFragment{ContactID: "7c0e3a52-4f1d-4a8b-9d2e-5b6a1f0c9e31", InstanceID: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", Trailer: &Trailer{}}
	call := synth.NewCall(1, 5)
	from, to := make([]byte, 16384), make([]byte, 16384)
	var stream []byte
	for ms := time.Duration(0); ms < d; ms += 1024 * time.Millisecond {
		call.Read(from, to)
		f := seq.Fragment(tmpl, from, to)
		var err error
		if stream, err = AppendConnectFragment(stream, &f); err != nil {
			tb.Fatal(err)
		}
	}
	return stream
}

func TestSequence(t *testing.T) {
	data := connectStream(t, 10*time.Second)
	fr := NewFragmentReader(bytes.NewReader(data))
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
		if len(num) != 47 || (prev != "" && CompareFragmentNumbers(prev, num) >= 0) || !f.Complete() ||
			!pt.Equal(time.Unix(1767225600, 0).Add(time.Duration(i)*1024*time.Millisecond)) || st.Sub(pt) < 170*time.Millisecond || st.Sub(pt) > 210*time.Millisecond {
			t.Fatalf("fragment %d: number %s after %s, producer %v, complete %v", i, num, prev, pt, f.Complete())
		}
		prev = num
	}
}

// BenchmarkFragmentReader parses a 25-minute call held in memory.
func BenchmarkFragmentReader(b *testing.B) {
	data := connectStream(b, 25*time.Minute)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		fr := NewFragmentReader(bytes.NewReader(data))
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
