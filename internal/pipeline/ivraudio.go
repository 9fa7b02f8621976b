package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/vmx-dev/vmx/internal/ivr"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
)

// IVRAudio fetches a voicemail from Connect's IVR recording in S3 (the
// Voicemail Express 2025 path): the recording cut at the voicemail's start.
type IVRAudio struct {
	// Open returns the store of a recordings bucket.
	Open func(bucket string) (ivr.Source, error)
	// Wait is how long after vmx accepted the voicemail its recording may
	// take to appear: the contact record can come before the recording,
	// and long after the call began (a caller who waited in a queue).
	// Default 10 minutes.
	Wait time.Duration
	// Attempt bounds one wait inside a job; the job is retried after it.
	// Default 30 s.
	Attempt time.Duration
}

// AudioPendingError reports audio that is not there yet. The audio step
// is retried until Wait after vmx accepted the voicemail, then fails.
type AudioPendingError struct {
	Wait time.Duration
	Err  error
}

func (e *AudioPendingError) Error() string { return e.Err.Error() }
func (e *AudioPendingError) Unwrap() error { return e.Err }

// FetchAudio writes the cut recording to w. A recording not there yet is
// waited for up to Attempt, then an *AudioPendingError.
func (a *IVRAudio) FetchAudio(ctx context.Context, req *voicemail.Request, w io.Writer) (Audio, error) {
	src := req.Audio
	if src.Kind != voicemail.AudioS3 {
		return Audio{}, retry.Permanent(fmt.Errorf("ivr audio: source is %q", src.Kind))
	}
	store, err := a.Open(src.Bucket)
	if err != nil {
		return Audio{}, fmt.Errorf("ivr audio: bucket %s: %w", src.Bucket, err)
	}
	wait, attempt := a.Wait, a.Attempt
	if wait <= 0 {
		wait = 10 * time.Minute
	}
	if attempt <= 0 {
		attempt = 30 * time.Second
	}
	cut := ivr.Cutter{Source: store}
	ireq := ivr.Request{Key: src.Key, RecordingStart: src.RecordingStart, VoicemailStart: src.VoicemailStart}
	h := &pcmHash{w: w, skip: wav.HeaderSize, h: sha256.New()}
	actx, cancel := context.WithTimeout(ctx, attempt)
	res, err := cut.CutWhenReady(actx, ireq, h)
	cancel()
	if _, ok := errors.AsType[*ivr.NotReadyError](err); ok {
		return Audio{}, &AudioPendingError{Wait: wait,
			Err: fmt.Errorf("ivr audio: recording s3://%s/%s not there yet: %w", src.Bucket, src.Key, err)}
	}
	if err != nil {
		return Audio{}, fmt.Errorf("ivr audio: %w", err)
	}
	return Audio{DurationMS: res.Duration.Milliseconds(), SHA256: hex.EncodeToString(h.h.Sum(nil))}, nil
}

// pcmHash hashes what is written after the WAV header.
type pcmHash struct {
	w    io.Writer
	skip int
	h    hash.Hash
}

func (p *pcmHash) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	data := b[:n]
	if p.skip > 0 {
		k := min(p.skip, len(data))
		p.skip -= k
		data = data[k:]
	}
	p.h.Write(data)
	return n, err
}
