// Package asr is vmx's speech to text: one Engine interface for every
// engine (PocketSphinx embedded, sherpa-onnx models, Amazon Transcribe, none)
// and the transcript they produce, stored in Amazon Transcribe's JSON shape
// so that tools that read Transcribe's output read vmx's.
package asr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrUnavailable is wrapped by engines that cannot run in this build or on
// this machine (a cgo engine in a CGO_ENABLED=0 build, a missing model).
var ErrUnavailable = errors.New("asr: engine unavailable")

// Audio is what an engine transcribes: 16-bit little-endian mono PCM.
type Audio struct {
	PCM        io.Reader
	SampleRate int // 8000 for Amazon Connect
	// WAVKey, when set, names the stored WAV the PCM came from, for engines
	// that read it themselves (Amazon Transcribe reads it from S3).
	WAVKey string
}

// Options steer one transcription.
type Options struct {
	Language string // Transcribe language code, e.g. en-US
	// ContactID names jobs deterministically (vmx_<contactId>), so that a
	// retried transcription finds its job instead of starting another.
	ContactID string
}

// Segment is one utterance of a transcript.
type Segment struct {
	StartMS, EndMS int64
	Text           string
	// Confidence is from 0 to 1, or -1 when the engine gives none.
	Confidence float64
}

// Result is a transcript.
type Result struct {
	Text     string
	Segments []Segment
	Engine   string
	AudioMS  int64 // length of the audio
	SpeechMS int64 // length of the speech found in it
	// Empty is set when the audio holds no speech: the caller hung up
	// without speaking.
	Empty bool
}

// Engine turns telephone speech into text.
type Engine interface {
	Name() string
	Transcribe(ctx context.Context, a Audio, opts Options) (*Result, error)
}

// TranscribeJSON renders r in Amazon Transcribe's output shape
// (results.transcripts[0].transcript and results.items, one pronunciation
// item per word with its times when the engine gave segment times), with
// vmx's own fields under "vmx".
func (r *Result) TranscribeJSON(jobName string) ([]byte, error) {
	type alt struct {
		Confidence string `json:"confidence"`
		Content    string `json:"content"`
	}
	type item struct {
		Type         string `json:"type"`
		StartTime    string `json:"start_time,omitempty"`
		EndTime      string `json:"end_time,omitempty"`
		Alternatives []alt  `json:"alternatives"`
	}
	items := []item{}
	for _, s := range r.Segments {
		words := strings.Fields(s.Text)
		if len(words) == 0 {
			continue
		}
		conf := ""
		if s.Confidence >= 0 {
			conf = fmt.Sprintf("%.4f", s.Confidence)
		}
		// Word times are spread evenly over the segment: engines give
		// segment times, Transcribe's shape wants words.
		step := float64(s.EndMS-s.StartMS) / float64(len(words))
		for i, w := range words {
			start := float64(s.StartMS) + float64(i)*step
			items = append(items, item{
				Type:         "pronunciation",
				StartTime:    fmt.Sprintf("%.3f", start/1000),
				EndTime:      fmt.Sprintf("%.3f", (start+step)/1000),
				Alternatives: []alt{{Confidence: conf, Content: w}},
			})
		}
	}
	type segment struct {
		StartMS    int64   `json:"start_ms"`
		EndMS      int64   `json:"end_ms"`
		Text       string  `json:"text"`
		Confidence float64 `json:"confidence"`
	}
	segs := []segment{}
	for _, s := range r.Segments {
		segs = append(segs, segment(s))
	}
	return json.Marshal(map[string]any{
		"jobName": jobName,
		"status":  "COMPLETED",
		"results": map[string]any{
			"transcripts": []map[string]string{{"transcript": r.Text}},
			"items":       items,
		},
		"vmx": map[string]any{
			"engine":    r.Engine,
			"audio_ms":  r.AudioMS,
			"speech_ms": r.SpeechMS,
			"empty":     r.Empty,
			"segments":  segs,
		},
	})
}

// None is the "none" engine: no transcription.
type None struct{}

func (None) Name() string { return "none" }

// Transcribe returns an empty transcript; Empty stays false, since None
// does not listen.
func (None) Transcribe(context.Context, Audio, Options) (*Result, error) {
	return &Result{Engine: "none", Segments: []Segment{}}, nil
}
