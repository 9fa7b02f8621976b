package extract

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/kvstest"
	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/synth"
)

func capture(tb testing.TB, d time.Duration) []byte {
	tb.Helper()
	b, err := synth.Capture(synth.Spec{Seconds: d.Seconds(), Prompt: 5, Seed: 1, ContactID: kvstest.ContactA,
		InstanceID: kvstest.InstanceID, Start: time.Unix(1767225600, 0)})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkExtract is parse plus demux of a 25-minute call held in memory:
// the contact filter, routing by track name, SHA-256 of each output.
func BenchmarkExtract(b *testing.B) {
	data := capture(b, 25*time.Minute)
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
				if _, err := Run(context.Background(), mkv.NewFragmentReader(bytes.NewReader(data)), Options{ContactID: kvstest.ContactA}, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type extract25 struct{ from, to, stereo bool }
