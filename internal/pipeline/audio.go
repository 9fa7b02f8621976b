package pipeline

import (
	"context"
	"fmt"
	"io"

	"github.com/vmx-dev/vmx/internal/extract"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
)

// KVSAudio fetches a voicemail recorded to Kinesis Video Streams: a bounded
// read of the contact's fragment range, the caller's track only.
type KVSAudio struct {
	Client *kvs.Client
}

// FetchAudio writes the caller's audio of req as a WAV to w, a file whose
// header is patched when the audio is complete.
func (a *KVSAudio) FetchAudio(ctx context.Context, req *voicemail.Request, w io.Writer) (Audio, error) {
	src := req.Audio
	if src.Kind != voicemail.AudioKVS {
		return Audio{}, retry.Permanent(fmt.Errorf("kvs audio: source is %q", src.Kind))
	}
	r, err := a.Client.ReadRange(ctx, kvs.Range{
		Stream:        kvs.Stream{ARN: src.StreamARN},
		StartFragment: src.StartFragment,
		StopFragment:  src.StopFragment,
		StartTime:     src.StartTime,
		StopTime:      src.StopTime,
	})
	if err != nil {
		return Audio{}, fmt.Errorf("kvs audio: %w", err)
	}
	defer r.Close()
	ww, err := wav.NewWriter(w, wav.Telephone, wav.UnknownLength)
	if err != nil {
		return Audio{}, err
	}
	rep, err := extract.Run(ctx, r, extract.Options{
		ContactID:     req.ContactID,
		StartFragment: src.StartFragment,
		StopFragment:  src.StopFragment,
		Hash:          true,
	}, extract.Outputs{From: ww})
	if err != nil {
		return Audio{}, fmt.Errorf("kvs audio: %w", err)
	}
	if err := ww.Close(); err != nil {
		return Audio{}, err
	}
	t := rep.Tracks["from"]
	return Audio{DurationMS: t.DurationMS, SHA256: t.SHA256}, nil
}

// AudioRouter fetches audio from where the contact record says it is.
type AudioRouter struct {
	KVS AudioFetcher // KINESIS_VIDEO_STREAM recordings
	S3  AudioFetcher // IVR recordings in S3
}

// FetchAudio dispatches on the audio source's kind.
func (r AudioRouter) FetchAudio(ctx context.Context, req *voicemail.Request, w io.Writer) (Audio, error) {
	var f AudioFetcher
	switch req.Audio.Kind {
	case voicemail.AudioKVS:
		f = r.KVS
	case voicemail.AudioS3:
		f = r.S3
	}
	if f == nil {
		return Audio{}, retry.Permanent(fmt.Errorf("no reader configured for %q recordings", req.Audio.Kind))
	}
	return f.FetchAudio(ctx, req, w)
}
