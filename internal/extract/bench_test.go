package extract

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/synth"
)

func connectStream(tb testing.TB, d time.Duration) []byte {
	tb.Helper()
	seq := mkv.NewSequence(time.Unix(1767225600, 0), "bench")
	tmpl := mkv.ConnectFragment{ContactID: contactA, InstanceID: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", Trailer: &mkv.Trailer{}}
	call := synth.NewCall(1, 5)
	from, to := make([]byte, 16384), make([]byte, 16384)
	var stream []byte
	for ms := time.Duration(0); ms < d; ms += 1024 * time.Millisecond {
		call.Read(from, to)
		f := seq.Fragment(tmpl, from, to)
		var err error
		if stream, err = mkv.AppendConnectFragment(stream, &f); err != nil {
			tb.Fatal(err)
		}
	}
	return stream
}

// BenchmarkExtract is parse plus demux of a 25-minute call held in memory:
// the contact filter, routing by track name, SHA-256 of each output.
func BenchmarkExtract(b *testing.B) {
	data := connectStream(b, 25*time.Minute)
	for _, bc := range []struct {
		name string
		out  extract25
	}{
		{"from", extract25{from: true}},
		{"both", extract25{from: true, to: true}},
		{"stereo", extract25{stereo: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var out Outputs
				if bc.out.from {
					out.From = io.Discard
				}
				if bc.out.to {
					out.To = io.Discard
				}
				if bc.out.stereo {
					out.Stereo = io.Discard
				}
				if _, err := Run(context.Background(), mkv.NewFragmentReader(bytes.NewReader(data)), Options{ContactID: contactA}, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type extract25 struct{ from, to, stereo bool }
