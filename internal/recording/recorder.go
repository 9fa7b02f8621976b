package recording

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/store"
)

// Errors the Recorder reports; the HTTP handler answers them with 409, 503
// and 404.
var (
	// ErrConflict reports a contact that is already recorded from another
	// stream.
	ErrConflict = errors.New("recording: conflict")
	// ErrBusy reports that MaxConcurrent recordings are running.
	ErrBusy = errors.New("recording: too many recordings at once")
	// ErrNotFound reports a contact that has no recording.
	ErrNotFound = errors.New("recording: not found")
)

// States of a recording.
const (
	StateRecording = store.RecordingActive
	StateCompleted = "completed"
	StateFailed    = "failed"
)

// Why a recording's read ended (Status.EndedBy).
const (
	EndContactChanged  = "contact_changed"   // a fragment of another contact arrived
	EndStreamEnded     = "stream_ended"      // the stream stopped bringing fragments
	EndStopped         = "stopped"           // a stop request
	EndMaxDuration     = "max_duration"      // Config.MaxDuration
	EndLambdaTimeLimit = "lambda_time_limit" // the Lambda invocation's deadline
	EndError           = "error"             // the stream could not be read further
)

// Media reads a Kinesis video stream live; *kvs.Client implements it.
type Media interface {
	ReadLive(ctx context.Context, in kvs.Live) (*kvs.LiveReader, error)
}

// Blobs stores the WAV files; every blob.Store implements it.
type Blobs interface {
	Put(ctx context.Context, key string, r io.Reader, attrs blob.Attrs) error
}

// Store keeps the contact details rows, the state of each recording and
// the transcripts; *store.Store implements it.
type Store interface {
	InsertRecording(ctx context.Context, r *store.Recording) (bool, error)
	GetRecording(ctx context.Context, contactID string) (*store.Recording, error)
	SaveRecording(ctx context.Context, r *store.Recording) (stop bool, err error)
	RequestRecordingStop(ctx context.Context, contactID string) error
	StaleRecordings(ctx context.Context, before time.Time, limit int) ([]*store.Recording, error)
	ClaimRecording(ctx context.Context, contactID, owner string, seen, now time.Time) (bool, error)
	PutRecordingSegment(ctx context.Context, g store.RecordingSegment) error
	RecordingSegments(ctx context.Context, contactID string) ([]store.RecordingSegment, error)
}

// Deps are what a Recorder works with.
type Deps struct {
	Media Media
	Blobs Blobs
	Store Store
	// Engine transcribes, utterance by utterance as the call goes on, the
	// sides of the recordings that ask for it. It must read PCM (Amazon
	// Transcribe's batch engine, which reads stored files, cannot). nil or
	// asr.None: requests to transcribe are recorded with a warning.
	Engine asr.Engine
	// Speech returns a voice-activity detector for 8 kHz audio, one per
	// transcribed side, to cut it into utterances; nil means the energy
	// detector.
	Speech func() (vad.Detector, error)
	Logger *slog.Logger
}

// Recorder records calls: one goroutine per recording, at most
// Config.MaxConcurrent at once, each checkpointed in the database so that
// Run resumes it after a restart. It is safe for concurrent use.
type Recorder struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	// id names this process as the owner of the recordings it runs.
	id string

	// base is the context of recordings started over HTTP; Run's end
	// cancels it.
	base    context.Context
	stopAll context.CancelFunc
	slots   chan struct{}
	wg      sync.WaitGroup

	mu   sync.Mutex
	runs map[string]*run
}

// New returns a Recorder. Run it (Run) in vmx serve, so that shutdown
// suspends recordings cleanly and interrupted ones are resumed.
func New(cfg Config, deps Deps) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var missing []error
	if deps.Media == nil {
		missing = append(missing, errors.New("recording: no KVS client"))
	}
	if deps.Blobs == nil {
		missing = append(missing, errors.New("recording: no blob store"))
	}
	if deps.Store == nil {
		missing = append(missing, errors.New("recording: no database"))
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.TempDir, 0o700); err != nil {
		return nil, fmt.Errorf("recording: temp dir: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Speech == nil {
		deps.Speech = func() (vad.Detector, error) { return vad.NewEnergy(sampleRate, vad.EnergyConfig{}) }
	}
	id := make([]byte, 8)
	rand.Read(id)
	host, _ := os.Hostname()
	base, stop := context.WithCancel(context.Background())
	return &Recorder{
		cfg:     cfg,
		deps:    deps,
		log:     deps.Logger.With("component", "recording"),
		id:      host + "/" + hex.EncodeToString(id),
		base:    base,
		stopAll: stop,
		slots:   make(chan struct{}, cfg.MaxConcurrent),
		runs:    map[string]*run{},
	}, nil
}

// Status is what is known of a contact's recording.
type Status struct {
	ContactID string `json:"contact_id"`
	// State is recording, completed (files stored; EndedBy says why the
	// read ended, Error what went wrong if it ended by an error) or failed
	// (nothing stored).
	State   string `json:"state"`
	EndedBy string `json:"ended_by,omitempty"`
	Error   string `json:"error,omitempty"`
	// The contact details: customer number, call date and time (UTC).
	CustomerNumber string    `json:"customer_number,omitempty"`
	CallTime       time.Time `json:"call_time"`
	Date           string    `json:"date"`
	Time           string    `json:"time"`
	StreamARN      string    `json:"stream_arn"`
	Request        Request   `json:"request"`
	StartedAt      time.Time `json:"started_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// DurationMS is the audio recorded so far (the longest side).
	DurationMS   int64  `json:"duration_ms"`
	LastFragment string `json:"last_fragment,omitempty"`
	// Files are the stored WAV files, once completed.
	Files []File `json:"files"`
	// Segments counts the transcript segments stored.
	Segments int `json:"segments"`
	// Resumes counts the times the recording was resumed after its
	// process stopped.
	Resumes  int      `json:"resumes,omitempty"`
	Warnings []string `json:"warnings"`
}

// File is a stored recording.
type File struct {
	// Track is AUDIO_FROM_CUSTOMER, AUDIO_TO_CUSTOMER or STEREO.
	Track      string `json:"track"`
	Key        string `json:"key"`
	PCMBytes   int64  `json:"pcm_bytes"`
	DurationMS int64  `json:"duration_ms"`
	// PCMSHA256 is the SHA-256 of the audio data, without the WAV header.
	PCMSHA256 string `json:"pcm_sha256"`
}

// details is the recorder's JSON document in the database row.
type details struct {
	Request    Request    `json:"request"`
	Checkpoint checkpoint `json:"checkpoint"`
	EndedBy    string     `json:"ended_by,omitempty"`
	Error      string     `json:"error,omitempty"`
	Files      []File     `json:"files,omitempty"`
	Warnings   []string   `json:"warnings,omitempty"`
	Resumes    int        `json:"resumes,omitempty"`
	// StoreAttempts counts failed attempts to store the files.
	StoreAttempts int `json:"store_attempts,omitempty"`
}

// checkpoint is where a recording stands: the temp files hold exactly the
// audio of the fragments up to LastFragment, Bytes long each.
type checkpoint struct {
	LastFragment string           `json:"last_fragment,omitempty"`
	Bytes        map[string]int64 `json:"bytes,omitempty"`
}

// Start starts recording req in the background. It reports whether it
// started: a contact that already has a recording from the same stream
// gets its status (Connect retries Lambda invocations), from another
// stream ErrConflict.
func (r *Recorder) Start(ctx context.Context, req Request) (Status, bool, error) {
	return r.beginWith(ctx, r.base, req)
}

// Record records req and returns when the recording is stored: for a
// Lambda invocation, whose deadline (less Config.LambdaMargin) ends the
// read as MaxDuration does.
func (r *Recorder) Record(ctx context.Context, req Request) (Status, error) {
	st, created, err := r.beginWith(ctx, ctx, req)
	if err != nil {
		return st, err
	}
	if u := r.active(req.ContactID); u != nil {
		select {
		case <-u.done:
		case <-ctx.Done():
			return st, fmt.Errorf("recording: contact %s: %w", req.ContactID, ctx.Err())
		}
	} else if !created {
		return st, nil
	}
	return r.Status(context.WithoutCancel(ctx), req.ContactID)
}

// beginWith starts a run of req whose context derives from parent.
func (r *Recorder) beginWith(ctx, parent context.Context, req Request) (Status, bool, error) {
	if !req.Save && !r.canTranscribe() {
		return Status{}, false, fmt.Errorf("%w: contact %s: the call is to be transcribed and not saved, but vmx has no speech-to-text engine (transcriber)", ErrInvalid, req.ContactID)
	}
	if u := r.active(req.ContactID); u != nil {
		if u.det.Request.StreamARN != req.StreamARN {
			return Status{}, false, conflict(req, u.det.Request.StreamARN)
		}
		return u.status(), false, nil
	}
	select {
	case r.slots <- struct{}{}:
	default:
		return Status{}, false, fmt.Errorf("%w: %d running", ErrBusy, r.cfg.MaxConcurrent)
	}
	now := time.Now().UTC().Truncate(time.Millisecond) // as the database keeps it
	det := details{Request: req}
	row := &store.Recording{
		ContactID: req.ContactID, CustomerNumber: req.CustomerNumber, CallTime: req.CallTime, StreamARN: req.StreamARN,
		State: StateRecording, Owner: r.id, HeartbeatAt: now, CreatedAt: now, UpdatedAt: now,
	}
	if err := setDetails(row, &det); err != nil {
		<-r.slots
		return Status{}, false, err
	}
	ok, err := r.deps.Store.InsertRecording(ctx, row)
	if err != nil {
		<-r.slots
		return Status{}, false, fmt.Errorf("recording: contact %s: %w", req.ContactID, err)
	}
	if !ok {
		<-r.slots
		st, err := r.Status(ctx, req.ContactID)
		if err != nil {
			return Status{}, false, err
		}
		if st.StreamARN != req.StreamARN {
			return Status{}, false, conflict(req, st.StreamARN)
		}
		return st, false, nil
	}
	u := r.newRun(row, det)
	if err := os.RemoveAll(u.dir); err != nil {
		r.log.Warn("stale temp files not removed", "contact_id", req.ContactID, "dir", u.dir, "err", err)
	}
	r.launch(parent, u)
	return u.status(), true, nil
}

// canTranscribe reports whether the Recorder has an engine.
func (r *Recorder) canTranscribe() bool {
	return r.deps.Engine != nil && r.deps.Engine.Name() != (asr.None{}).Name()
}

func conflict(req Request, stream string) error {
	return fmt.Errorf("%w: contact %s is already recorded from stream %s", ErrConflict, req.ContactID, stream)
}

// launch runs u in a goroutine holding a slot taken by the caller.
func (r *Recorder) launch(parent context.Context, u *run) {
	r.mu.Lock()
	r.runs[u.row.ContactID] = u
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		// done closes last, so that a Stop waiting on it finds the slot
		// free and the run gone.
		defer close(u.done)
		defer func() {
			r.mu.Lock()
			delete(r.runs, u.row.ContactID)
			r.mu.Unlock()
			<-r.slots
		}()
		u.main(parent)
	}()
}

func (r *Recorder) active(contactID string) *run {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[contactID]
}

// Stop ends a contact's recording and stores it. A recording this process
// runs is stopped at once and Stop waits, while ctx allows, for its files
// to be stored; one another replica runs stops at that replica's next
// checkpoint. Stopping a finished recording changes nothing.
func (r *Recorder) Stop(ctx context.Context, contactID string) (Status, error) {
	if u := r.active(contactID); u != nil {
		u.stop(errStopped)
		select {
		case <-u.done:
		case <-ctx.Done():
			return u.status(), nil
		}
		return r.Status(context.WithoutCancel(ctx), contactID)
	}
	st, err := r.Status(ctx, contactID)
	if err != nil || st.State != StateRecording {
		return st, err
	}
	if err := r.deps.Store.RequestRecordingStop(ctx, contactID); err != nil {
		return st, fmt.Errorf("recording: stop %s: %w", contactID, err)
	}
	return st, nil
}

// Status returns what is known of a contact's recording: its row, and the
// live progress when this process runs it.
func (r *Recorder) Status(ctx context.Context, contactID string) (Status, error) {
	row, err := r.deps.Store.GetRecording(ctx, contactID)
	if errors.Is(err, store.ErrNotFound) {
		return Status{}, fmt.Errorf("%w: no recording of contact %s", ErrNotFound, contactID)
	}
	if err != nil {
		return Status{}, fmt.Errorf("recording: status of %s: %w", contactID, err)
	}
	var det details
	if err := json.Unmarshal([]byte(row.Details), &det); err != nil {
		return Status{}, fmt.Errorf("recording: status of %s: details: %w", contactID, err)
	}
	st := statusOf(row, det)
	if u := r.active(contactID); u != nil && row.State == StateRecording {
		live := u.status()
		st.DurationMS, st.LastFragment, st.Warnings = live.DurationMS, live.LastFragment, live.Warnings
	}
	segs, err := r.deps.Store.RecordingSegments(ctx, contactID)
	if err != nil {
		return Status{}, fmt.Errorf("recording: status of %s: %w", contactID, err)
	}
	st.Segments = len(segs)
	return st, nil
}

// Segments returns the stored transcript of a contact's recording.
func (r *Recorder) Segments(ctx context.Context, contactID string) ([]store.RecordingSegment, error) {
	if _, err := r.deps.Store.GetRecording(ctx, contactID); errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no recording of contact %s", ErrNotFound, contactID)
	} else if err != nil {
		return nil, fmt.Errorf("recording: transcript of %s: %w", contactID, err)
	}
	segs, err := r.deps.Store.RecordingSegments(ctx, contactID)
	if err != nil {
		return nil, fmt.Errorf("recording: transcript of %s: %w", contactID, err)
	}
	return segs, nil
}

func statusOf(row *store.Recording, det details) Status {
	call := row.CallTime.UTC()
	st := Status{
		ContactID: row.ContactID, State: row.State, EndedBy: det.EndedBy, Error: det.Error,
		CustomerNumber: row.CustomerNumber, CallTime: call, Date: call.Format(time.DateOnly), Time: call.Format(time.TimeOnly),
		StreamARN: row.StreamARN, Request: det.Request, StartedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt,
		DurationMS: durationMS(det.Checkpoint.Bytes), LastFragment: det.Checkpoint.LastFragment,
		Files: det.Files, Resumes: det.Resumes, Warnings: det.Warnings,
	}
	if st.Files == nil {
		st.Files = []File{}
	}
	if st.Warnings == nil {
		st.Warnings = []string{}
	}
	return st
}

// durationMS is the length of the longest mono side in bytes.
func durationMS(bytes map[string]int64) int64 {
	return max(bytes[outFrom.name], bytes[outTo.name]) / bytesPerMS
}

func setDetails(row *store.Recording, det *details) error {
	b, err := json.Marshal(det)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	row.Details = string(b)
	return nil
}

// Run resumes interrupted recordings and then keeps looking for recordings
// whose replica died, until ctx ends; then it suspends the running
// recordings, each at its last checkpoint, for the next Run to resume,
// and returns once they have stopped.
func (r *Recorder) Run(ctx context.Context) error {
	every := r.cfg.ResumeAfter / 2
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r.sweep(ctx)
		select {
		case <-ctx.Done():
			r.stopAll()
			r.wg.Wait()
			return nil
		case <-t.C:
		}
	}
}

// sweep resumes the recordings whose temp files are here and whose
// replica went quiet, and fails those that no replica resumed for
// AbandonAfter.
func (r *Recorder) sweep(ctx context.Context) {
	entries, err := os.ReadDir(r.cfg.TempDir)
	if err != nil {
		r.log.Warn("temp dir not readable: interrupted recordings are not resumed", "dir", r.cfg.TempDir, "err", err)
	}
	now := time.Now().UTC()
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || !validContactID(id) || r.active(id) != nil || ctx.Err() != nil {
			continue
		}
		row, err := r.deps.Store.GetRecording(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && row.State == StateCompleted):
			// Left by a process that stopped after storing the files.
			os.RemoveAll(filepath.Join(r.cfg.TempDir, id))
		case err != nil:
			r.log.Warn("recording not resumed", "contact_id", id, "err", err)
		case row.State == StateRecording && row.HeartbeatAt.Before(now.Add(-r.cfg.ResumeAfter)):
			r.resume(ctx, row, now)
		}
	}
	stale, err := r.deps.Store.StaleRecordings(ctx, now.Add(-r.cfg.AbandonAfter), 100)
	if err != nil {
		r.log.Warn("abandoned recordings not looked for", "err", err)
		return
	}
	for _, row := range stale {
		if r.active(row.ContactID) != nil {
			continue
		}
		if ok, err := r.deps.Store.ClaimRecording(ctx, row.ContactID, r.id, row.HeartbeatAt, now); err != nil || !ok {
			continue
		}
		row.Owner, row.HeartbeatAt = r.id, now
		var det details
		if err := json.Unmarshal([]byte(row.Details), &det); err != nil {
			det = details{}
		}
		det.Error = fmt.Sprintf("interrupted: no replica resumed the recording within %s of its last checkpoint; its partial audio stayed on the machine that recorded it", r.cfg.AbandonAfter)
		row.State, row.UpdatedAt = StateFailed, now
		if err := setDetails(row, &det); err == nil {
			if _, err := r.deps.Store.SaveRecording(ctx, row); err != nil {
				r.log.Warn("abandoned recording not marked failed", "contact_id", row.ContactID, "err", err)
				continue
			}
		}
		r.log.Error("recording abandoned", "contact_id", row.ContactID, "last_heartbeat", row.HeartbeatAt)
	}
}

// resume takes over an interrupted recording and continues it from its
// checkpoint.
func (r *Recorder) resume(ctx context.Context, row *store.Recording, now time.Time) {
	var det details
	if err := json.Unmarshal([]byte(row.Details), &det); err != nil {
		r.log.Error("recording not resumed: unreadable details", "contact_id", row.ContactID, "err", err)
		return
	}
	select {
	case r.slots <- struct{}{}:
	default:
		return // at capacity: the next sweep tries again
	}
	ok, err := r.deps.Store.ClaimRecording(ctx, row.ContactID, r.id, row.HeartbeatAt, now)
	if err != nil || !ok {
		<-r.slots
		return
	}
	row.Owner, row.HeartbeatAt = r.id, now
	det.Resumes++
	u := r.newRun(row, det)
	u.resumed = true
	r.log.Info("resuming recording", "contact_id", row.ContactID, "last_fragment", det.Checkpoint.LastFragment, "ended_by", det.EndedBy)
	r.launch(r.base, u)
}
