// Package pipeline turns contact records into delivered voicemails: intake,
// fetch audio, transcribe, package (route, summary, callback number),
// deliver to each destination, finalize. Each step is a plain function of a
// contact id; River workers here, and Lambda handlers elsewhere, are thin
// adapters over the same functions.
//
// Every step is idempotent: it reads the voicemail row, does nothing that
// was already done, and records its result and enqueues the next step in
// one transaction. So at-least-once input, job retries and a process killed
// at any moment still give one delivery per destination.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Blobs stores recordings and transcripts.
type Blobs interface {
	Put(ctx context.Context, key string, r io.Reader, attrs blob.Attrs) error
	Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error)
	Delete(ctx context.Context, key string) error
}

// AudioFetcher writes a voicemail's audio as a WAV to w.
type AudioFetcher interface {
	FetchAudio(ctx context.Context, req *voicemail.Request, w io.Writer) (Audio, error)
}

// Audio describes fetched audio.
type Audio struct {
	DurationMS int64
	SHA256     string // of the PCM data
}

// Transcriber turns a voicemail's audio into text; every asr.Engine is one.
type Transcriber interface {
	Transcribe(ctx context.Context, a asr.Audio, opts asr.Options) (*asr.Result, error)
}

// Sink is one kind of destination (webhook, task, e-mail…). Deliver must
// pass key to the destination so that it can drop a repeat: the same key is
// used on every retry of the same delivery.
type Sink interface {
	Deliver(ctx context.Context, d *voicemail.Delivery, key string) (detail string, err error)
}

// Finalizer runs after every destination has the voicemail: Voicemail
// Express resets the contact's flag attribute here.
type Finalizer interface {
	Finalize(ctx context.Context, rec *voicemail.Record) error
}

// Router finds the queue and agent a voicemail is for. Warnings are
// problems it worked around (an agent not found, routed to the queue);
// an error is retried.
type Router interface {
	Route(ctx context.Context, req *voicemail.Request) (voicemail.Route, []string, error)
}

// Summarizer writes a short summary of a voicemail's transcript; "" when
// the voicemail asks for none.
type Summarizer interface {
	Summarize(ctx context.Context, rec *voicemail.Record) (string, error)
}

// Linker makes the never-stale link to a voicemail's recording, or ""
// when it cannot: the voicemail is then delivered without one, with a
// warning saying why.
type Linker interface {
	URL(contactID string) string
}

// Deps are what the steps work with.
type Deps struct {
	// State keeps the voicemails and their pending steps.
	State       State
	Blobs       Blobs
	Audio       AudioFetcher
	Transcriber Transcriber
	// Sinks by mode name: "webhook", "task", "email"…
	Sinks map[string]Sink
	// DefaultMode is used when a contact names none.
	DefaultMode string
	// Finalizers run in order once every destination has the voicemail;
	// each must be idempotent.
	Finalizers []Finalizer
	// Router, when set, looks the queue and agent up before delivery;
	// without it the route is the contact's queue ARN.
	Router Router
	// Summarizer, when set, summarises transcripts; a failed summary is a
	// warning on the voicemail, never a reason not to deliver it.
	Summarizer Summarizer
	// Location is the contact centre's time zone, in which delivered
	// voicemails show their call time; default UTC.
	Location *time.Location
	// Speech, when set, makes the voice-activity detector that finds the
	// speech in each recording as it is stored: its span, and whether the
	// caller said anything at all. An empty voicemail is not transcribed.
	Speech  func(sampleRate int) (vad.Detector, error)
	Links   Linker
	Metrics *Metrics // optional
	// DropEmpty finalizes voicemails without speech without delivering
	// them; otherwise they are delivered marked empty.
	DropEmpty bool
	// SpokenNumber, when set, finds a callback number the caller said.
	SpokenNumber func(transcript string) (digits string, ok bool)
	// Redact, when set, rewrites the transcript before it is delivered
	// (masking card numbers and PINs); the stored transcript stays whole.
	Redact func(transcript string) string
	// RetentionAge is how long voicemails are kept; 0 keeps them.
	RetentionAge time.Duration
	// TempDir holds audio while it is written; default os.TempDir().
	TempDir string
	Now     func() time.Time
	Logger  *slog.Logger
}

// Pipeline runs the steps.
type Pipeline struct {
	Deps
}

// New checks deps and returns a pipeline.
func New(d Deps) (*Pipeline, error) {
	var missing []string
	if d.State == nil {
		missing = append(missing, "State")
	}
	if d.Blobs == nil {
		missing = append(missing, "Blobs")
	}
	if d.Audio == nil {
		missing = append(missing, "Audio")
	}
	if d.Transcriber == nil {
		missing = append(missing, "Transcriber")
	}
	if d.Links == nil {
		missing = append(missing, "Links")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pipeline: missing %s", strings.Join(missing, ", "))
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Location == nil {
		d.Location = time.UTC
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	if _, err := d.sinksFor(d.DefaultMode); d.DefaultMode != "" && err != nil {
		return nil, fmt.Errorf("pipeline: default mode: %w", err)
	}
	return &Pipeline{Deps: d}, nil
}

// sinksFor resolves a comma-separated mode list to sink names.
func (d *Deps) sinksFor(mode string) ([]string, error) {
	if strings.TrimSpace(mode) == "" {
		mode = d.DefaultMode
	}
	var names []string
	seen := map[string]bool{}
	for _, m := range strings.Split(mode, ",") {
		m = strings.ToLower(strings.TrimSpace(m))
		if m == "other" { // Voicemail Express 2's name for a webhook
			m = "webhook"
		}
		if m == "" {
			return nil, errors.New("empty delivery mode")
		}
		if _, ok := d.Sinks[m]; !ok {
			return nil, fmt.Errorf("unknown or unconfigured delivery mode %q", m)
		}
		if !seen[m] {
			seen[m] = true
			names = append(names, m)
		}
	}
	return names, nil
}

func (p *Pipeline) log(contactID string) *slog.Logger {
	return p.Logger.With("contact_id", contactID)
}
