package synth

import (
	"bytes"
	"io"
	"time"

	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/wav"
)

// Spec describes a synthetic voicemail call.
type Spec struct {
	Seconds    float64 // length of the call
	Prompt     float64 // length of the IVR prompt, in seconds
	Seed       uint64
	ContactID  string
	InstanceID string
	Layout     mkv.Layout
	FromFirst  bool      // AUDIO_FROM_CUSTOMER is track 1
	Start      time.Time // producer time of the first sample
}

func (s Spec) samples() int { return int(s.Seconds * SampleRate) }

// WriteCapture writes the call as Amazon Connect's GetMedia would return
// it, one 1.024 s fragment at a time, in constant memory.
func WriteCapture(w io.Writer, s Spec) error {
	seq := mkv.NewSequence(s.Start, s.ContactID)
	tmpl := mkv.ConnectFragment{Layout: s.Layout, FromFirst: s.FromFirst, ContactID: s.ContactID, InstanceID: s.InstanceID, Trailer: &mkv.Trailer{}}
	call := NewCall(s.Seed, s.Prompt)
	const perFragment = 8192 // samples: 1.024 s
	from, to := make([]byte, 2*perFragment), make([]byte, 2*perFragment)
	var buf []byte
	for left := s.samples(); left > 0; left -= perFragment {
		k := min(left, perFragment)
		call.Read(from[:2*k], to[:2*k])
		f := seq.Fragment(tmpl, from[:2*k], to[:2*k])
		var err error
		if buf, err = mkv.AppendConnectFragment(buf[:0], &f); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// WriteWAV writes the call as a stereo WAV: the caller left, the IVR right.
func WriteWAV(w io.Writer, s Spec) error {
	format := wav.Telephone
	format.Channels = 2
	n := s.samples()
	ww, err := wav.NewWriter(w, format, int64(4*n))
	if err != nil {
		return err
	}
	call := NewCall(s.Seed, s.Prompt)
	from, to := make([]byte, 2048), make([]byte, 2048)
	frames := make([]byte, 4096)
	for left := n; left > 0; {
		k := min(left, len(from)/2)
		call.Read(from[:2*k], to[:2*k])
		for i := range k {
			copy(frames[4*i:], from[2*i:2*i+2])
			copy(frames[4*i+2:], to[2*i:2*i+2])
		}
		if _, err := ww.Write(frames[:4*k]); err != nil {
			return err
		}
		left -= k
	}
	return ww.Close()
}

// Capture returns what WriteCapture writes, held in memory.
func Capture(s Spec) ([]byte, error) {
	var buf bytes.Buffer
	err := WriteCapture(&buf, s)
	return buf.Bytes(), err
}
