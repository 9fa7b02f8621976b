// Package ivr cuts the voicemail out of an Amazon Connect IVR recording.
//
// With IVR recording on, Connect stores one WAV per contact that starts when
// recording was enabled; the contact flow stamps the moment the voicemail
// begins (vmx3_timestamp). The voicemail is the recording from that moment
// to the end (VMX3-IVR, spec §5.3).
//
// Voicemail Express downloads the whole WAV, decodes it and re-encodes a
// slice. Cutter works on byte offsets instead: it reads the header with a
// small ranged read, turns the offset into a whole sample frame, and streams
// the data from there into a new WAV with an exact header, so memory stays
// at one copy buffer whatever the length, and bytes before the cut are not
// even fetched from stores that support ranges. The source format (mono or
// stereo, sample rate, sample size) is kept.
//
// The recording may reach S3 after the contact record that announces it;
// CutWhenReady waits for it with back-off.
package ivr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/wav"
)

// ErrBeyondEnd reports a voicemail start after the end of the recording.
var ErrBeyondEnd = errors.New("ivr: voicemail starts after the recording ends")

// Source is where recordings are read from: a blob.Store, typically an S3
// store on Connect's recordings bucket. A Source that also implements
// blob.RangeOpener is read with ranged requests: the header region, then
// the data from the cut on. Any other is read from the start, and the bytes
// before the cut are discarded.
type Source interface {
	Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error)
}

// Request names a recording and the moments that place the cut.
type Request struct {
	// Key is the recording's key in the Source.
	Key string
	// RecordingStart is when the recording began: the contact record's
	// Recordings[].StartTimestamp for the IVR participant.
	RecordingStart time.Time
	// VoicemailStart is when the voicemail began: the flow's
	// vmx3_timestamp.
	VoicemailStart time.Time
}

// Offset is how far into the recording the voicemail starts, to the
// millisecond (truncated), and never negative: a voicemail stamped before
// the recording began (clock skew) starts at the beginning.
func (r Request) Offset() time.Duration {
	ms := r.VoicemailStart.Sub(r.RecordingStart).Milliseconds()
	return time.Duration(max(ms, 0)) * time.Millisecond
}

// Result describes a cut.
type Result struct {
	// Format is the PCM format, the source's.
	Format wav.Format
	// Offset is where the cut was made in the source, rounded down to a
	// whole sample frame.
	Offset time.Duration
	// DataBytes is the number of PCM bytes written.
	DataBytes int64
	// Duration is how long the written PCM plays.
	Duration time.Duration
}

// Defaults of Cutter's fields.
const (
	DefaultHeaderProbe = 4 << 10
	DefaultMinBackoff  = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	// maxHeader bounds the header region: chunks before "data" (LIST and
	// the like) are small.
	maxHeader = 1 << 20
)

// Cutter cuts recordings from a Source. Only Source is required; the zero
// values of the other fields mean their defaults.
type Cutter struct {
	Source Source
	// HeaderProbe is the length of the first ranged read, which must hold
	// the header up to the data chunk; it grows eightfold, up to 1 MiB,
	// when it does not. Default DefaultHeaderProbe.
	HeaderProbe int64
	// MinBackoff and MaxBackoff bound CutWhenReady's waits, which double
	// from MinBackoff. Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives a debug line per wait and a warning for a data chunk
	// longer than the object. Default: no logging.
	Logger *slog.Logger
}

func (c *Cutter) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger.With("component", "ivr")
}

// Cut writes to w the voicemail part of the recording: a WAV with an exact
// header (or, when neither header nor object tells the length, the
// streaming form) and the source's PCM from the frame at req.Offset() on.
//
// A missing recording is an error wrapping blob.ErrNotFound; w is then
// untouched. Input that no retry can fix (not a PCM WAV, a voicemail start
// past the end, ErrBeyondEnd) is marked retry.Permanent.
func (c *Cutter) Cut(ctx context.Context, req Request, w io.Writer) (Result, error) {
	if c.Source == nil {
		return Result{}, errors.New("ivr: cutter has no source")
	}
	if req.Key == "" {
		return Result{}, retry.Permanent(errors.New("ivr: cut: empty recording key"))
	}
	var (
		res Result
		err error
	)
	if ro, ok := c.Source.(blob.RangeOpener); ok {
		res, err = c.cutRanged(ctx, ro, req, w)
	} else {
		res, err = c.cutStream(ctx, req, w)
	}
	if err != nil {
		return res, fmt.Errorf("ivr: cut %q at %s: %w", req.Key, req.Offset(), err)
	}
	return res, nil
}

// plan is where the cut falls in the source file.
type plan struct {
	format  wav.Format
	start   int64 // file offset of the first byte to copy
	cut     int64 // data bytes skipped
	outLen  int64 // data bytes to copy, or wav.UnknownLength
	offset  time.Duration
	dataEnd int64 // bytes of data, or wav.UnknownLength
}

// newPlan places the cut given the header and the object's size (or -1).
func (c *Cutter) newPlan(req Request, rd *wav.Reader, size int64) (plan, error) {
	f := rd.Format()
	align := int64(f.BlockAlign())
	frames := req.Offset().Milliseconds() * int64(f.SampleRate) / 1000
	p := plan{
		format:  f,
		cut:     frames * align,
		offset:  time.Duration(frames) * time.Second / time.Duration(f.SampleRate),
		dataEnd: rd.DataLen(),
	}
	p.start = rd.DataOffset() + p.cut
	if size >= 0 {
		avail := max(size-rd.DataOffset(), 0)
		switch {
		case p.dataEnd == wav.UnknownLength:
			p.dataEnd = avail
		case p.dataEnd > avail:
			c.logger().Warn("recording shorter than its data chunk declares",
				"key", req.Key, "declared", p.dataEnd, "present", avail)
			p.dataEnd = avail
		}
	}
	if p.dataEnd == wav.UnknownLength {
		p.outLen = wav.UnknownLength
		return p, nil
	}
	p.dataEnd -= p.dataEnd % align // a truncated last frame is dropped
	if p.cut > p.dataEnd {
		length := time.Duration(p.dataEnd/align) * time.Second / time.Duration(f.SampleRate)
		return p, retry.Permanent(fmt.Errorf("%w (recording is %s long)", ErrBeyondEnd, length))
	}
	p.outLen = p.dataEnd - p.cut
	return p, nil
}

// cutRanged reads the header region, then only the bytes from the cut on.
func (c *Cutter) cutRanged(ctx context.Context, ro blob.RangeOpener, req Request, w io.Writer) (Result, error) {
	rd, info, err := c.readHeader(ctx, ro, req.Key)
	if err != nil {
		return Result{}, err
	}
	p, err := c.newPlan(req, rd, info.Size)
	if err != nil {
		return Result{}, err
	}
	if p.outLen == 0 {
		return write(w, p, strings.NewReader(""))
	}
	body, _, err := ro.OpenRange(ctx, req.Key, p.start, p.outLen)
	if errors.Is(err, blob.ErrInvalidRange) {
		return Result{}, retry.Permanent(fmt.Errorf("%w: %w", ErrBeyondEnd, err))
	}
	if err != nil {
		return Result{}, err
	}
	defer body.Close()
	return write(w, p, body)
}

// readHeader parses the WAV header from a ranged read of the object's
// start, widening the range while the header does not fit.
func (c *Cutter) readHeader(ctx context.Context, ro blob.RangeOpener, key string) (*wav.Reader, blob.Info, error) {
	probe := c.HeaderProbe
	if probe <= 0 {
		probe = DefaultHeaderProbe
	}
	for {
		rc, info, err := ro.OpenRange(ctx, key, 0, probe)
		if errors.Is(err, blob.ErrInvalidRange) { // an empty object
			return nil, blob.Info{}, retry.Permanent(fmt.Errorf("read header: %w", wav.ErrNotWAVE))
		}
		if err != nil {
			return nil, blob.Info{}, err
		}
		rd, err := wav.NewReader(rc)
		_ = rc.Close()
		if err == nil {
			return rd, info, nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && probe < info.Size && probe < maxHeader {
			probe = min(probe*8, maxHeader)
			continue
		}
		return nil, blob.Info{}, retry.Permanent(fmt.Errorf("read header: %w", err))
	}
}

// cutStream reads the object from its start and discards up to the cut.
func (c *Cutter) cutStream(ctx context.Context, req Request, w io.Writer) (Result, error) {
	body, info, err := c.Source.Open(ctx, req.Key)
	if err != nil {
		return Result{}, err
	}
	defer body.Close()
	rd, err := wav.NewReader(body)
	if err != nil {
		return Result{}, retry.Permanent(fmt.Errorf("read header: %w", err))
	}
	p, err := c.newPlan(req, rd, info.Size)
	if err != nil {
		return Result{}, err
	}
	n, err := io.CopyN(io.Discard, rd, p.cut)
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return Result{}, retry.Permanent(fmt.Errorf("%w (recording holds %d data bytes)", ErrBeyondEnd, n))
	}
	if err != nil {
		return Result{}, fmt.Errorf("skip %d bytes: %w", p.cut, err)
	}
	return write(w, p, rd)
}

// write writes the new WAV: the header, then p.outLen bytes of src (or all
// of it when the length is unknown).
func write(w io.Writer, p plan, src io.Reader) (Result, error) {
	ww, err := wav.NewWriter(w, p.format, p.outLen)
	if err != nil {
		return Result{}, err
	}
	var n int64
	if p.outLen == wav.UnknownLength {
		n, err = io.Copy(ww, src)
	} else {
		n, err = io.CopyN(ww, src, p.outLen)
		if err == io.EOF {
			err = fmt.Errorf("recording ended after %d of %d bytes: %w", n, p.outLen, io.ErrUnexpectedEOF)
		}
	}
	if err != nil {
		return Result{}, fmt.Errorf("copy audio: %w", err)
	}
	if err := ww.Close(); err != nil {
		return Result{}, err
	}
	frames := n / int64(p.format.BlockAlign())
	return Result{
		Format:    p.format,
		Offset:    p.offset,
		DataBytes: n,
		Duration:  time.Duration(frames) * time.Second / time.Duration(p.format.SampleRate),
	}, nil
}

// NotReadyError reports a recording that did not appear before
// CutWhenReady's context ended. It unwraps to the last lookup's error,
// which wraps blob.ErrNotFound.
type NotReadyError struct {
	Key      string
	Attempts int
	Waited   time.Duration
	Err      error
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("ivr: recording %q not there after %d attempts in %s: %v", e.Key, e.Attempts, e.Waited.Round(time.Millisecond), e.Err)
}

func (e *NotReadyError) Unwrap() error { return e.Err }

// CutWhenReady is Cut that waits for a missing recording: it tries again
// after MinBackoff, doubling the wait up to MaxBackoff, until the recording
// is there or ctx ends. Then it returns a *NotReadyError marked
// retry.After, so that a runner tries the job again later. Only a missing
// recording is waited for, and only while nothing has been written to w.
func (c *Cutter) CutWhenReady(ctx context.Context, req Request, w io.Writer) (Result, error) {
	wait := c.MinBackoff
	if wait <= 0 {
		wait = DefaultMinBackoff
	}
	maxWait := c.MaxBackoff
	if maxWait <= 0 {
		maxWait = DefaultMaxBackoff
	}
	wait = min(wait, maxWait)
	log := c.logger()
	began := time.Now()
	var missing error // the last attempt's not-found error
	notReady := func(attempts int) error {
		return retry.After(wait, &NotReadyError{Key: req.Key, Attempts: attempts, Waited: time.Since(began), Err: missing})
	}
	for attempt := 1; ; attempt++ {
		cw := &countingWriter{w: w}
		res, err := c.Cut(ctx, req, cw)
		switch {
		case cw.n > 0 || err == nil:
			return res, err
		case missing != nil && ctx.Err() != nil:
			// The deadline fell during an attempt: still not there.
			return Result{}, notReady(attempt - 1)
		case !errors.Is(err, blob.ErrNotFound):
			return res, err
		}
		missing = err
		log.Debug("recording not there yet", "key", req.Key, "attempt", attempt, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, notReady(attempt)
		case <-t.C:
		}
		wait = min(wait*2, maxWait)
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// SplitLocation splits a contact record's recording Location,
// "bucket/key/of/the.wav" (or "s3://bucket/key"), at the first slash.
func SplitLocation(loc string) (bucket, key string, err error) {
	loc = strings.TrimPrefix(loc, "s3://")
	bucket, key, ok := strings.Cut(loc, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("ivr: recording location %q: want bucket/key", loc)
	}
	return bucket, key, nil
}
