package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/wav"
)

const synthUsage = "[flags] -o PATH.wav|PATH.mkv"

func synthCommand() Command {
	return Command{
		Name:  "synth",
		Usage: synthUsage,
		Short: "synthesise a voicemail call: a stereo WAV for kvs-sim, or a Connect GetMedia capture",
		Run:   runSynth,
	}
}

// callSpec describes a synthetic call.
type callSpec struct {
	seconds    float64
	prompt     float64
	seed       uint64
	contactID  string
	instanceID string
	layout     string
	start      time.Time
}

func (c *callSpec) register(fs interface {
	Float64Var(*float64, string, float64, string)
	Uint64Var(*uint64, string, uint64, string)
	StringVar(*string, string, string, string)
}) {
	fs.Float64Var(&c.seconds, "seconds", 20, "length of the call in seconds")
	fs.Float64Var(&c.prompt, "prompt", 4, "length of the IVR prompt before the beep, in seconds")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the caller's voice")
	fs.StringVar(&c.contactID, "contact-id", "", "contact id (default derived from the seed)")
	fs.StringVar(&c.instanceID, "instance-id", "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "Connect instance id")
	fs.StringVar(&c.layout, "layout", "ca", "Connect fragment layout: ca or nn")
}

func (c *callSpec) validate() error {
	if c.seconds <= 0 || c.seconds > 24*3600 {
		return usagef("--seconds %g: want more than 0 and at most a day", c.seconds)
	}
	if c.prompt < 0 || c.prompt >= c.seconds {
		return usagef("--prompt %g: want at least 0 and less than --seconds", c.prompt)
	}
	if c.layout != "ca" && c.layout != "nn" {
		return usagef("--layout %q: want ca or nn", c.layout)
	}
	if c.contactID == "" {
		c.contactID = fmt.Sprintf("%08x-5e1f-4a11-8c0d-%012x", uint32(c.seed), c.seed)
	}
	return nil
}

func (c *callSpec) samples() int { return int(c.seconds * synth.SampleRate) }

func runSynth(_ context.Context, env *Env, args []string) (int, error) {
	var spec callSpec
	var output, start string
	fs := newFlagSet(env, "synth", synthUsage)
	spec.register(fs)
	fs.StringVar(&start, "start", "2026-01-01T00:00:00Z", "producer time of the call's first sample (RFC 3339)")
	fs.StringVar(&output, "o", "", "output: PATH.wav (stereo WAV, caller left, plus a PATH.json sidecar for kvs-sim) or PATH.mkv (GetMedia capture)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2, err
	}
	if len(pos) > 0 {
		return 2, usagef("unexpected argument %q", pos[0])
	}
	if output == "" {
		return 2, usagef("-o is required")
	}
	if spec.start, err = parseTime("--start", start); err != nil {
		return 2, err
	}
	if err := spec.validate(); err != nil {
		return 2, err
	}
	switch strings.ToLower(filepath.Ext(output)) {
	case ".wav":
		err = writeFileAtomic(output, func(w io.Writer) error { return writeCallWAV(w, &spec) })
		if err == nil {
			err = writeSidecar(strings.TrimSuffix(output, filepath.Ext(output))+".json", &spec)
		}
	case ".mkv":
		err = writeFileAtomic(output, func(w io.Writer) error { return writeCallCapture(w, &spec) })
	default:
		return 2, usagef("-o %q: want a .wav or .mkv path", output)
	}
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(env.Stdout, "%s contact_id=%s seconds=%g\n", output, spec.contactID, spec.seconds)
	return 0, nil
}

// writeCallWAV writes the call as a stereo WAV: caller left, IVR right.
func writeCallWAV(w io.Writer, spec *callSpec) error {
	format := wav.Telephone
	format.Channels = 2
	n := spec.samples()
	ww, err := wav.NewWriter(w, format, int64(4*n))
	if err != nil {
		return err
	}
	call := synth.NewCall(spec.seed, spec.prompt)
	from, to := make([]byte, 2048), make([]byte, 2048)
	frame := make([]byte, 4096)
	for left := n; left > 0; {
		k := min(left, len(from)/2)
		call.Read(from[:2*k], to[:2*k])
		for i := range k {
			copy(frame[4*i:], from[2*i:2*i+2])
			copy(frame[4*i+2:], to[2*i:2*i+2])
		}
		if _, err := ww.Write(frame[:4*k]); err != nil {
			return err
		}
		left -= k
	}
	return ww.Close()
}

// writeCallCapture writes the call as Connect's GetMedia would return it,
// one 1.024 s fragment at a time.
func writeCallCapture(w io.Writer, spec *callSpec) error {
	seq := mkv.NewSequence(spec.start, spec.contactID)
	tmpl := mkv.ConnectFragment{ContactID: spec.contactID, InstanceID: spec.instanceID, Trailer: &mkv.Trailer{}}
	if spec.layout == "nn" {
		tmpl.Layout, tmpl.FromFirst = mkv.LayoutNN, true
	}
	call := synth.NewCall(spec.seed, spec.prompt)
	const perFragment = 8192 // samples: 1.024 s
	from, to := make([]byte, 2*perFragment), make([]byte, 2*perFragment)
	var buf []byte
	for left := spec.samples(); left > 0; left -= perFragment {
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

func writeSidecar(path string, spec *callSpec) error {
	sc := kvssim.Sidecar{
		ContactID:  spec.contactID,
		InstanceID: spec.instanceID,
		Layout:     spec.layout,
		Start:      spec.start.UTC().Format(time.RFC3339Nano),
	}
	b, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}
