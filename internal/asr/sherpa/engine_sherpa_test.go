//go:build sherpa && cgo && linux

package sherpa

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/utterance/utterancetest"
)

// These tests load sherpa-onnx for real. sherpa-onnx ends the process on a
// model it cannot load, so a failure of New's checks shows as the test
// binary dying, not as a failed test.

func TestNewMissingModel(t *testing.T) {
	dir := t.TempDir()
	missing := func(name string) string { return filepath.Join(dir, name) }
	for _, c := range []Config{
		{Model: Whisper, Encoder: missing("encoder.onnx"), Decoder: missing("decoder.onnx"), Tokens: missing("tokens.txt")},
		{Model: Transducer, Encoder: missing("encoder.onnx"), Decoder: missing("decoder.onnx"), Joiner: missing("joiner.onnx"), Tokens: missing("tokens.txt")},
		{Model: Paraformer, ModelFile: missing("model.onnx"), Tokens: missing("tokens.txt")},
	} {
		e, err := New(c)
		if e != nil || err == nil {
			t.Fatalf("%s: New = %v, %v", c.Model, e, err)
		}
		for _, f := range c.WithDefaults().files() {
			if f.path != "" && !strings.Contains(err.Error(), f.key+": stat "+f.path+": no such file") {
				t.Errorf("%s: error does not name the missing %s:\n%v", c.Model, f.key, err)
			}
		}
	}
}

// Files that exist but hold no model fail New with an error naming each
// of them, where sherpa-onnx itself would abort the process.
func TestNewGarbageModel(t *testing.T) {
	for _, family := range []Family{Whisper, Transducer, Paraformer} {
		t.Run(string(family), func(t *testing.T) {
			c := fixtures(t, family)
			for _, f := range c.files() {
				if f.path != "" {
					write(t, filepath.Dir(f.path), filepath.Base(f.path), []byte("garbage bytes\x00\xff"))
				}
			}
			e, err := New(c)
			if e != nil || err == nil {
				t.Fatalf("New = %v, %v", e, err)
			}
			for _, f := range c.files() {
				switch {
				case f.path == "":
				case f.onnx && !strings.Contains(err.Error(), f.key+": "+f.path+": not an ONNX model"):
					t.Errorf("error does not name %s:\n%v", f.key, err)
				case !f.onnx && !strings.Contains(err.Error(), "tokens: "+f.path+": line 1"):
					t.Errorf("error does not name tokens:\n%v", err)
				}
			}
		})
	}
}

// The test Paraformer says "hello" once per 60 ms of 16 kHz audio it is
// given, so its transcript shows what reached sherpa-onnx.
func TestParaformerEndToEnd(t *testing.T) {
	c := fixtures(t, Paraformer)
	c.MaxConcurrent = 2
	e, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	narrow := utterancetest.Scene(6000, [2]int{500, 1500}, [2]int{2500, 4000})
	wide := utterancetest.Wide(narrow)
	for _, a := range []asr.Audio{
		{PCM: bytes.NewReader(utterancetest.PCMBytes(narrow)), SampleRate: 8000},
		{PCM: bytes.NewReader(utterancetest.PCMBytes(wide)), SampleRate: 16000},
	} {
		r, err := e.Transcribe(context.Background(), a, asr.Options{Language: "en-US"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Engine != Name || r.AudioMS != 6000 || r.Empty || len(r.Segments) != 2 || r.SpeechMS < 2000 {
			t.Fatalf("%d Hz: result %+v", a.SampleRate, r)
		}
		var texts []string
		for _, s := range r.Segments {
			// Each utterance is decoded in full at 16 kHz: at 8 kHz
			// read as 16 kHz it would be half as many words.
			words := strings.Fields(s.Text)
			if want := s.EndMS - s.StartMS; !utterancetest.Near(int64(len(words))*60, want, 120) || words[0] != "hello" {
				t.Errorf("%d Hz: segment %d–%d ms heard as %d words %q…", a.SampleRate, s.StartMS, s.EndMS, len(words), words[0])
			}
			if s.Confidence != -1 {
				t.Errorf("paraformer gave confidence %v", s.Confidence)
			}
			texts = append(texts, s.Text)
		}
		if r.Text != strings.Join(texts, " ") {
			t.Errorf("text %q", r.Text)
		}
	}

	// Concurrent transcriptions share two recognisers and agree.
	utterancetest.Concurrent(t, e, utterancetest.PCMBytes(narrow), 4)
	if n := e.pool.Loaded(); n > 2 {
		t.Errorf("%d recognisers loaded, want at most 2", n)
	}
}
