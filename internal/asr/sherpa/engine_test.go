package sherpa

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/utterance/utterancetest"
	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// The transcription itself (reading, cutting, upsampling, borrowing) is
// package utterance's and tested there; these tests cover what the engine
// adds: a recogniser per utterance, tidied text, the utterance's times.

// fakeRecognizer stands in for sherpa-onnx: it "recognises" each utterance
// as its length, in capitals, and records how it is used.
type fakeRecognizer struct {
	f    *fakes
	lens []int
}

func (r *fakeRecognizer) recognize(pcm []int16) recognized {
	r.lens = append(r.lens, len(pcm))
	if r.f.onRecognize != nil {
		r.f.onRecognize()
	}
	r.f.calls.Add(1)
	return recognized{Text: fmt.Sprintf("  UTTERANCE OF %d SAMPLES ", len(pcm)), Confidence: 0.5}
}

func (r *fakeRecognizer) free() { r.f.Freed.Add(1) }

type fakes struct {
	utterancetest.Loads[*fakeRecognizer]
	calls       atomic.Int32
	onRecognize func()
}

func (f *fakes) new() (recognizer, error) { return f.Add(&fakeRecognizer{f: f}), nil }

func fakeEngine(t *testing.T, c Config) (*Engine, *fakes) {
	t.Helper()
	f := &fakes{}
	if c.Model == "" {
		c.Model = Paraformer
	}
	e, err := newEngine(c.WithDefaults(), f.new)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, f
}

func TestTranscribe(t *testing.T) {
	e, f := fakeEngine(t, Config{MaxConcurrent: 1})
	audio := utterancetest.PCMBytes(utterancetest.Scene(6000, [2]int{500, 1500}, [2]int{2500, 4000}))
	// While an utterance is decoded its recogniser is out of the pool;
	// between utterances it is back.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	var lent []bool
	f.onRecognize = func() {
		r, err := e.pool.Get(ctx)
		if err == nil {
			e.pool.Put(r)
		}
		lent = append(lent, err != nil)
	}
	r, err := e.Transcribe(context.Background(), utterancetest.Telephone(audio), asr.Options{Language: "en-GB"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Engine != "sherpa" || r.AudioMS != 6000 || r.Empty || len(r.Segments) != 2 {
		t.Fatalf("result %+v", r)
	}
	if fmt.Sprint(lent) != "[true true]" {
		t.Errorf("recogniser lent during decodes: %v", lent)
	}
	if got, err := e.pool.Get(ctx); err != nil || got != recognizer(f.All()[0]) {
		t.Errorf("recogniser not back in the pool between recordings: %v", err)
	} else {
		e.pool.Put(got)
	}
	// Segment times are the utterance's span, padding included; the
	// text is tidied (spaces collapsed, capitals lowered).
	s := r.Segments[0]
	if !utterancetest.Near(s.StartMS, 300, 20) || !utterancetest.Near(s.EndMS, 1700, 20) || s.Confidence != 0.5 {
		t.Errorf("first segment %+v", s)
	}
	if want := fmt.Sprintf("utterance of %d samples", f.All()[0].lens[0]); s.Text != want {
		t.Errorf("segment text %q, want %q", s.Text, want)
	}
	if !utterancetest.Near(int64(f.All()[0].lens[0]), 22400, 320) {
		t.Errorf("first utterance reached the recogniser as %d samples", f.All()[0].lens[0])
	}
	// The energy detector finds no utterance that short, but Silero or a
	// cut at MaxUtterance may: under 100 ms is skipped (tested in package
	// utterance).
	if e.tr.MinSamples != 1600 {
		t.Errorf("utterances under %d samples skipped, want 1600 (100 ms)", e.tr.MinSamples)
	}

	_, err = e.Transcribe(context.Background(), utterancetest.Telephone(nil), asr.Options{Language: "es-US"})
	if !errors.Is(err, asr.ErrUnavailable) || !strings.HasPrefix(err.Error(), "sherpa: the model is en; cannot transcribe es-US") {
		t.Errorf("Spanish: %v, want ErrUnavailable", err)
	}

	e.Close()
	if n := f.Freed.Load(); n != 1 {
		t.Errorf("Close freed %d recognisers, want 1", n)
	}
	_, err = e.Transcribe(context.Background(), utterancetest.Telephone(audio), asr.Options{})
	if !errors.Is(err, ErrClosed) || err.Error() != "sherpa: engine closed" {
		t.Errorf("after Close: %v", err)
	}
}

func TestPoolBoundsConcurrency(t *testing.T) {
	e, f := fakeEngine(t, Config{MaxConcurrent: 2})
	f.onRecognize = func() { time.Sleep(20 * time.Millisecond) }
	audio := utterancetest.PCMBytes(utterancetest.Scene(4000, [2]int{200, 1000}, [2]int{2000, 3000}))
	utterancetest.Concurrent(t, e, audio, 4)
	if n := e.pool.Loaded(); n != 2 || f.calls.Load() != 8 {
		t.Errorf("%d recognisers loaded for %d decodes, want 2 for 8", n, f.calls.Load())
	}
}

// A recogniser that cannot be loaded fails New, with nothing left behind.
func TestNewEngineLoadError(t *testing.T) {
	boom := errors.New("out of memory")
	_, err := newEngine(Config{Model: Whisper}.WithDefaults(), func() (recognizer, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("newEngine = %v", err)
	}
	// A voice-activity configuration that cannot work fails New too.
	c := Config{Model: Whisper, VAD: vad.Config{Engine: "psychic"}}.WithDefaults()
	if _, err := newEngine(c, (&fakes{}).new); err == nil || !strings.HasPrefix(err.Error(), "sherpa: ") {
		t.Errorf("bad vad engine: %v", err)
	}
}

func TestTidy(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"  \n":                         "",
		" Hello, please call me back.": "Hello, please call me back.",
		"CALL ME BACK  ON 555 0100":    "call me back on 555 0100",
		"I":                            "i",
		"hello   world":                "hello world",
		"ÉCOUTEZ":                      "écoutez",
		"NASA called":                  "NASA called",
	} {
		if got := tidy(in); got != want {
			t.Errorf("tidy(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfidence(t *testing.T) {
	if c := confidence(nil); c != -1 {
		t.Errorf("no log probabilities: %v", c)
	}
	c := confidence([]float32{0, float32(math.Log(0.5))})
	if math.Abs(c-0.75) > 1e-6 {
		t.Errorf("confidence = %v, want 0.75", c)
	}
}
