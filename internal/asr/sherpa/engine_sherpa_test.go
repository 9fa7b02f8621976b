//go:build sherpa && cgo && linux

package sherpa

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vmx-dev/vmx/internal/asr"
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

	narrow := scene(6000, [2]int{500, 1500}, [2]int{2500, 4000})
	wide := make([]int16, 2*len(narrow))
	for i, v := range narrow {
		wide[2*i], wide[2*i+1] = v, v
	}
	for _, a := range []asr.Audio{
		{PCM: bytes.NewReader(pcmBytes(narrow)), SampleRate: 8000},
		{PCM: bytes.NewReader(pcmBytes(wide)), SampleRate: 16000},
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
			if want := s.EndMS - s.StartMS; !near(int64(len(words))*60, want, 120) || words[0] != "hello" {
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
	audio := pcmBytes(narrow)
	var wg sync.WaitGroup
	texts := make([]string, 4)
	for i := range texts {
		wg.Go(func() {
			r, err := e.Transcribe(context.Background(), asr.Audio{PCM: bytes.NewReader(audio), SampleRate: 8000}, asr.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			texts[i] = r.Text
		})
	}
	wg.Wait()
	for _, s := range texts[1:] {
		if s != texts[0] || s == "" {
			t.Errorf("concurrent transcripts differ: %q and %q", s, texts[0])
		}
	}
	if n := e.pool.loaded(); n > 2 {
		t.Errorf("%d recognisers loaded, want at most 2", n)
	}
}
