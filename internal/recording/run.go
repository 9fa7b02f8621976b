package recording

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/extract"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/wav"
)

// Connect audio: 8 kHz mono s16le, 16 bytes a millisecond per side.
const (
	sampleRate = 8000
	bytesPerMS = 16
)

// maxStoreAttempts bounds the attempts to store a recording's files, each
// a sweep apart, before it is failed with its temp files kept.
const maxStoreAttempts = 5

// output is one file a recording may produce.
type output struct {
	name     string // in checkpoints and temp file names
	track    string // in blob keys and File.Track
	channels int
}

var (
	outFrom   = output{"from", "AUDIO_FROM_CUSTOMER", 1}
	outTo     = output{"to", "AUDIO_TO_CUSTOMER", 1}
	outStereo = output{"stereo", "STEREO", 2}
)

// Causes that end a read without being failures.
var (
	errStopped     = errors.New("stop requested")
	errMaxDuration = errors.New("maximum duration reached")
	errLambdaLimit = errors.New("lambda deadline near")
	errLost        = errors.New("another replica took the recording over")
)

// run is one recording in progress.
type run struct {
	r       *Recorder
	row     *store.Recording
	det     details // Request and, once the read ended, EndedBy and Error
	dir     string  // temp files
	resumed bool
	log     *slog.Logger

	done chan struct{}

	mu       sync.Mutex
	cancel   context.CancelCauseFunc // ends the read; nil before it starts
	pending  error                   // a stop asked for before the read started
	cp       checkpoint              // what the temp files hold, synced or not
	warnings []string
	sinks    []*sink
}

func (r *Recorder) newRun(row *store.Recording, det details) *run {
	if det.Checkpoint.Bytes == nil {
		det.Checkpoint.Bytes = map[string]int64{}
	}
	return &run{
		r:        r,
		row:      row,
		det:      det,
		dir:      filepath.Join(r.cfg.TempDir, row.ContactID),
		log:      r.log.With("contact_id", row.ContactID),
		done:     make(chan struct{}),
		cp:       det.Checkpoint,
		warnings: slices.Clone(det.Warnings),
	}
}

// stop ends the read with cause; the recording is then stored.
func (u *run) stop(cause error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cancel == nil {
		u.pending = cause
		return
	}
	u.cancel(cause)
}

func (u *run) warn(msg string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !slices.Contains(u.warnings, msg) {
		u.warnings = append(u.warnings, msg)
		u.log.Warn(msg)
	}
}

// status is the run's live view: its progress as of the last fragment
// written.
func (u *run) status() Status {
	u.mu.Lock()
	det := details{
		Request:    u.det.Request,
		Checkpoint: checkpoint{LastFragment: u.cp.LastFragment, Bytes: cloneBytes(u.cp.Bytes)},
		Warnings:   slices.Clone(u.warnings),
		Resumes:    u.det.Resumes,
	}
	u.mu.Unlock()
	row := *u.row
	row.State = StateRecording
	return statusOf(&row, det)
}

// outputs are the files the request asks for, or whose audio it
// transcribes.
func (u *run) outputs() []output {
	req := u.det.Request
	var outs []output
	if req.FromCustomer {
		outs = append(outs, outFrom)
	}
	if req.ToCustomer {
		outs = append(outs, outTo)
	}
	if req.Stereo {
		outs = append(outs, outStereo)
	}
	return outs
}

// key is the blob key of an output:
// <prefix><contactId>_<UTC start>_<track>.wav.
func (u *run) key(o output) string {
	return fmt.Sprintf("%s%s_%s_%s.wav", u.r.cfg.KeyPrefix, u.row.ContactID, u.row.CreatedAt.UTC().Format("20060102T150405Z"), o.track)
}

// main reads the stream to its end and stores the recording, or, when
// parent ends first, leaves it at its checkpoint to be resumed.
func (u *run) main(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if u.det.EndedBy == "" && u.row.StopRequested {
		u.det.EndedBy = EndStopped
	}
	if u.det.EndedBy == "" {
		if suspended := u.read(ctx); suspended {
			return
		}
	}
	u.store(ctx)
}

// read records until the read ends. It reports true when it left the
// recording to be resumed (shutdown, or taken over) rather than ended.
func (u *run) read(ctx context.Context) (suspended bool) {
	req := u.det.Request
	if err := u.openSinks(ctx); err != nil {
		u.det.EndedBy, u.det.Error = EndError, err.Error()
		return false
	}
	defer u.closeSinks()

	readCtx, cancelRead := context.WithCancelCause(ctx)
	defer cancelRead(nil)
	limit, limitCause := u.row.CreatedAt.Add(u.r.cfg.MaxDuration), errMaxDuration
	if dl, ok := ctx.Deadline(); ok && dl.Add(-u.r.cfg.LambdaMargin).Before(limit) {
		limit, limitCause = dl.Add(-u.r.cfg.LambdaMargin), errLambdaLimit
	}
	readCtx, cancelLimit := context.WithDeadlineCause(readCtx, limit, limitCause)
	defer cancelLimit()
	u.mu.Lock()
	u.cancel = cancelRead
	if u.pending != nil {
		cancelRead(u.pending)
	}
	u.mu.Unlock()

	beat := make(chan struct{})
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		u.heartbeat(ctx, beat)
	}()

	src := &source{ctx: readCtx, contactID: req.ContactID, run: u, seenOurs: u.cp.LastFragment != ""}
	live := kvs.Live{Stream: kvs.Stream{ARN: req.StreamARN}}
	switch {
	case u.cp.LastFragment != "":
		live.Start = kvs.StartSelector{Type: kvs.StartFragmentNumber, FragmentNumber: u.cp.LastFragment}
	case req.StartSelector == StartNow:
		live.Start = kvs.StartSelector{Type: kvs.StartNow}
	default:
		live.Start = kvs.StartSelector{Type: kvs.StartFragmentNumber, FragmentNumber: req.StartFragment}
		live.IncludeStartFragment = true
	}
	if live.IncludeStartFragment && u.r.cfg.StartFragmentDelay > 0 {
		// A stop or the time limit during the wait ends the read at once.
		t := time.NewTimer(u.r.cfg.StartFragmentDelay)
		select {
		case <-t.C:
		case <-readCtx.Done():
		}
		t.Stop()
	}
	rep, err := u.extract(ctx, readCtx, live, src)
	close(beat)
	<-beatDone

	if lost := errors.Is(context.Cause(readCtx), errLost); lost || ctx.Err() != nil {
		if !lost {
			u.suspend()
		}
		return true
	}
	if rep != nil {
		for _, w := range rep.Warnings {
			u.warn(w)
		}
		for _, g := range rep.Gaps {
			u.warn(fmt.Sprintf("%d ms of audio missing after fragment %s; filled with silence", g.DurationMS, g.AfterFragment))
		}
	}
	if src.reason == "" {
		// extract stopped by itself: at a fragment of another contact.
		src.reason = EndContactChanged
	}
	recorded := u.cp.Bytes[outFrom.name]+u.cp.Bytes[outTo.name] > 0
	switch {
	case err == nil || (errors.Is(err, extract.ErrNoAudio) && recorded):
		u.det.EndedBy = src.reason
	case errors.Is(err, extract.ErrNoAudio):
		u.det.EndedBy, u.det.Error = src.reason, fmt.Sprintf("no audio of contact %s was recorded: %v", req.ContactID, err)
	default:
		u.det.EndedBy, u.det.Error = EndError, err.Error()
	}
	if err := u.finishSinks(ctx); err != nil && u.det.Error == "" {
		u.det.EndedBy, u.det.Error = EndError, err.Error()
	}
	return false
}

// extract runs the extraction of the contact's audio into the sinks.
func (u *run) extract(ctx, readCtx context.Context, live kvs.Live, src *source) (*extract.Report, error) {
	lr, err := u.r.deps.Media.ReadLive(readCtx, live)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	defer lr.Close()
	src.lr = lr
	var outs extract.Outputs
	for _, s := range u.sinks {
		switch s.out {
		case outFrom:
			outs.From = s
		case outTo:
			outs.To = s
		case outStereo:
			outs.Stereo = s
		}
	}
	return extract.Run(ctx, src, extract.Options{
		ContactID:        u.det.Request.ContactID,
		FillGaps:         true,
		StopAfterContact: true,
		Logger:           u.log,
	}, outs)
}

// heartbeat saves the checkpoint every CheckpointInterval until beat is
// closed, and turns a stop requested through the database, or the loss of
// the recording to another replica, into the end of the read.
func (u *run) heartbeat(ctx context.Context, beat <-chan struct{}) {
	t := time.NewTicker(u.r.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-beat:
			return
		case <-t.C:
		}
		stop, err := u.checkpoint(ctx, time.Now().UTC())
		switch {
		case errors.Is(err, store.ErrNotOwner) || errors.Is(err, store.ErrNotFound):
			u.log.Error("recording taken over by another replica; stopping here", "err", err)
			u.stop(errLost)
			return
		case err != nil:
			u.log.Warn("checkpoint not saved", "err", err)
		case stop:
			u.stop(errStopped)
		}
	}
}

// checkpoint syncs the temp files and saves what they hold, with a
// heartbeat at beat.
func (u *run) checkpoint(ctx context.Context, beat time.Time) (stop bool, err error) {
	u.mu.Lock()
	cp := checkpoint{LastFragment: u.cp.LastFragment, Bytes: cloneBytes(u.cp.Bytes)}
	sinks := slices.Clone(u.sinks)
	u.mu.Unlock()
	// What the checkpoint counts was flushed to the files before it was
	// taken; syncing now makes it durable before the database says so.
	for _, s := range sinks {
		if s.f != nil {
			if err := s.f.Sync(); err != nil {
				return false, fmt.Errorf("sync %s: %w", s.f.Name(), err)
			}
		}
	}
	return u.save(ctx, StateRecording, cp, beat)
}

// save writes the row with the given state and checkpoint.
func (u *run) save(ctx context.Context, state string, cp checkpoint, beat time.Time) (bool, error) {
	u.mu.Lock()
	det := u.det
	det.Checkpoint = cp
	det.Warnings = slices.Clone(u.warnings)
	u.mu.Unlock()
	row := *u.row
	row.State, row.HeartbeatAt, row.UpdatedAt = state, beat, time.Now().UTC()
	if err := setDetails(&row, &det); err != nil {
		return false, err
	}
	return u.r.deps.Store.SaveRecording(ctx, &row)
}

// suspend saves the checkpoint with a heartbeat old enough that the next
// sweep resumes the recording at once.
func (u *run) suspend() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := u.checkpoint(ctx, time.Now().UTC().Add(-u.r.cfg.ResumeAfter)); err != nil {
		u.log.Warn("recording suspended without a final checkpoint; it resumes from the last one", "err", err)
		return
	}
	u.log.Info("recording suspended", "last_fragment", u.cp.LastFragment)
}

func cloneBytes(m map[string]int64) map[string]int64 {
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// store uploads the temp files as WAV files and completes the recording.
// A failure leaves it to the next sweep, up to maxStoreAttempts.
func (u *run) store(ctx context.Context) {
	req := u.det.Request
	u.mu.Lock()
	cp := checkpoint{LastFragment: u.cp.LastFragment, Bytes: cloneBytes(u.cp.Bytes)}
	u.mu.Unlock()
	now := time.Now().UTC()
	// Say the read has ended before storing, so that a crash from here on
	// resumes with storing.
	if _, err := u.save(ctx, StateRecording, cp, now); err != nil {
		u.log.Warn("end of read not saved", "err", err)
	}
	var files []File
	var err error
	if req.Save {
		for _, o := range u.outputs() {
			n := cp.Bytes[o.name]
			if n == 0 {
				continue
			}
			f, ferr := u.upload(ctx, o, n)
			if ferr != nil {
				err = ferr
				break
			}
			files = append(files, f)
		}
	}
	state := StateCompleted
	switch {
	case err != nil && ctx.Err() != nil:
		u.suspend()
		return
	case err != nil:
		u.det.StoreAttempts++
		if u.det.StoreAttempts < maxStoreAttempts {
			u.log.Warn("recording not stored; retrying later", "attempt", u.det.StoreAttempts, "err", err)
			if _, serr := u.save(ctx, StateRecording, cp, now.Add(-u.r.cfg.ResumeAfter)); serr != nil {
				u.log.Warn("recording state not saved", "err", serr)
			}
			return
		}
		state = StateFailed
		u.det.Error = fmt.Sprintf("storing the recording failed %d times, last: %v; the raw audio is kept in %s", u.det.StoreAttempts, err, u.dir)
	case len(files) == 0 && u.det.Error == "" && req.Save:
		state = StateFailed
		u.det.Error = fmt.Sprintf("no audio of contact %s was recorded", req.ContactID)
	case len(files) == 0 && u.det.Error != "" && cp.Bytes[outFrom.name]+cp.Bytes[outTo.name] == 0:
		state = StateFailed
	}
	u.det.Files = files
	if _, err := u.save(ctx, state, cp, now); err != nil {
		u.log.Error("recording stored but its row not updated; the next sweep stores it again", "err", err)
		return
	}
	if state == StateCompleted {
		if err := os.RemoveAll(u.dir); err != nil {
			u.log.Warn("temp files not removed", "dir", u.dir, "err", err)
		}
	}
	u.log.Info("recording ended", "state", state, "ended_by", u.det.EndedBy, "files", len(files), "error", u.det.Error)
}

// upload streams an output's temp file, n bytes of PCM, into the blob
// store as a WAV file.
func (u *run) upload(ctx context.Context, o output, n int64) (File, error) {
	f, err := os.Open(filepath.Join(u.dir, o.name+".pcm"))
	if err != nil {
		return File{}, fmt.Errorf("recording: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		w, err := wav.NewWriter(pw, wav.Format{SampleRate: sampleRate, Channels: o.channels, BitsPerSample: 16}, n)
		if err == nil {
			if _, err = io.Copy(w, io.TeeReader(io.LimitReader(f, n), h)); err == nil {
				err = w.Close()
			}
		}
		pw.CloseWithError(err)
	}()
	key := u.key(o)
	attrs := blob.Attrs{ContentType: "audio/wav", Metadata: map[string]string{"contact-id": u.row.ContactID, "track": o.track}}
	if err := u.r.deps.Blobs.Put(ctx, key, pr, attrs); err != nil {
		return File{}, fmt.Errorf("recording: store %s: %w", key, err)
	}
	return File{Track: o.track, Key: key, PCMBytes: n, DurationMS: n / int64(bytesPerMS*o.channels), PCMSHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// sink is where extract writes one output: its temp file (when the
// request saves it) and its transcriber (when it transcribes it).
type sink struct {
	out output
	f   *os.File
	w   *bufio.Writer
	tr  *transcriber
	n   int64 // bytes written, flushed or not
}

func (s *sink) Write(p []byte) (int, error) {
	if s.w != nil {
		if _, err := s.w.Write(p); err != nil {
			return 0, fmt.Errorf("recording: write %s: %w", s.f.Name(), err)
		}
	}
	if s.tr != nil {
		if err := s.tr.write(p); err != nil {
			return 0, err
		}
	}
	s.n += int64(len(p))
	return len(p), nil
}

// openSinks opens the temp files at the checkpoint (dropping what was
// written after it) and starts the transcribers.
func (u *run) openSinks(ctx context.Context) error {
	req := u.det.Request
	if err := os.MkdirAll(u.dir, 0o700); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	transcribe := req.Transcribe
	if transcribe && !u.r.canTranscribe() {
		u.warn("transcription was requested but no speech-to-text engine is configured")
		transcribe = false
	}
	var sinks []*sink
	for _, o := range u.outputs() {
		s := &sink{out: o, n: u.cp.Bytes[o.name]}
		if req.Save {
			f, err := os.OpenFile(filepath.Join(u.dir, o.name+".pcm"), os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				closeAll(sinks)
				return fmt.Errorf("recording: %w", err)
			}
			info, err := f.Stat()
			if err == nil && info.Size() < s.n {
				err = fmt.Errorf("temp file %s holds %d bytes, fewer than the %d its checkpoint counts", f.Name(), info.Size(), s.n)
			}
			if err == nil {
				err = f.Truncate(s.n)
			}
			if err == nil {
				_, err = f.Seek(s.n, io.SeekStart)
			}
			if err != nil {
				f.Close()
				closeAll(sinks)
				return fmt.Errorf("recording: %w", err)
			}
			s.f, s.w = f, bufio.NewWriterSize(f, 32<<10)
		}
		if transcribe && o != outStereo {
			tr, err := u.newTranscriber(ctx, o, s.n)
			if err != nil {
				u.warn(fmt.Sprintf("%s not transcribed: %v", o.track, err))
			}
			s.tr = tr
		}
		sinks = append(sinks, s)
	}
	u.mu.Lock()
	u.sinks = sinks
	u.mu.Unlock()
	return nil
}

// commit marks the audio written so far as that of the fragments up to
// number: the checkpoint the next heartbeat saves.
func (u *run) commit(number string) error {
	bytes := make(map[string]int64, len(u.sinks))
	for _, s := range u.sinks {
		if s.w != nil {
			if err := s.w.Flush(); err != nil {
				return fmt.Errorf("recording: write %s: %w", s.f.Name(), err)
			}
		}
		bytes[s.out.name] = s.n
	}
	u.mu.Lock()
	u.cp = checkpoint{LastFragment: number, Bytes: bytes}
	u.mu.Unlock()
	return nil
}

// finishSinks flushes the files and completes the transcription.
func (u *run) finishSinks(ctx context.Context) error {
	u.mu.Lock()
	number := u.cp.LastFragment
	u.mu.Unlock()
	err := u.commit(number)
	for _, s := range u.sinks {
		if s.tr != nil {
			s.tr.finish(ctx)
			s.tr = nil
		}
	}
	return err
}

// closeSinks closes the files and stops transcribers still running.
func (u *run) closeSinks() {
	u.mu.Lock()
	sinks := u.sinks
	u.sinks = nil
	u.mu.Unlock()
	for _, s := range sinks {
		if s.tr != nil {
			s.tr.abort()
		}
	}
	closeAll(sinks)
}

func closeAll(sinks []*sink) {
	for _, s := range sinks {
		if s.f != nil {
			s.f.Close()
		}
	}
}

// source hands extract the live reader's fragments, checkpoints after
// each one extract has written, and turns the ends of a recording into
// io.EOF, remembering which.
type source struct {
	ctx       context.Context // the read's
	lr        *kvs.LiveReader
	run       *run
	contactID string
	seenOurs  bool
	prev      string // number of the fragment handed out last
	reason    string
}

func (s *source) Next() (*mkv.Fragment, error) {
	if s.prev != "" {
		// extract asks for the next fragment once it has written this one.
		if err := s.run.commit(s.prev); err != nil {
			return nil, err
		}
		s.prev = ""
	}
	f, err := s.lr.Next()
	if err == io.EOF {
		s.reason = EndStreamEnded
		if errors.Is(context.Cause(s.ctx), errMaxDuration) {
			s.reason = EndMaxDuration
		}
		return nil, io.EOF
	}
	if err != nil {
		switch cause := context.Cause(s.ctx); {
		case errors.Is(cause, errStopped):
			s.reason = EndStopped
		case errors.Is(cause, errMaxDuration):
			s.reason = EndMaxDuration
		case errors.Is(cause, errLambdaLimit):
			s.reason = EndLambdaTimeLimit
		default:
			return nil, err
		}
		return nil, io.EOF
	}
	if _, _, isErr := f.ErrorChunk(); !isErr {
		if c, ok := f.Tag(mkv.TagContactID); ok {
			switch {
			case c == s.contactID:
				s.seenOurs = true
			case s.seenOurs:
				s.reason = EndContactChanged
				return nil, io.EOF
			}
		}
		// A fragment without a number cannot be resumed after: the
		// checkpoint waits for the next numbered one.
		s.prev = f.FragmentNumber()
	}
	return f, nil
}
