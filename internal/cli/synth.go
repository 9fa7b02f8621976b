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

// spec returns the synthesiser's view of a validated call.
func (c *callSpec) spec() synth.Spec {
	s := synth.Spec{Seconds: c.seconds, Prompt: c.prompt, Seed: c.seed, ContactID: c.contactID, InstanceID: c.instanceID, Start: c.start}
	if c.layout == "nn" {
		s.Layout, s.FromFirst = mkv.LayoutNN, true
	}
	return s
}

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
		err = writeFileAtomic(output, func(w io.Writer) error { return synth.WriteWAV(w, spec.spec()) })
		if err == nil {
			err = writeSidecar(strings.TrimSuffix(output, filepath.Ext(output))+".json", &spec)
		}
	case ".mkv":
		err = writeFileAtomic(output, func(w io.Writer) error { return synth.WriteCapture(w, spec.spec()) })
	default:
		return 2, usagef("-o %q: want a .wav or .mkv path", output)
	}
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(env.Stdout, "%s contact_id=%s seconds=%g\n", output, spec.contactID, spec.seconds)
	return 0, nil
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
