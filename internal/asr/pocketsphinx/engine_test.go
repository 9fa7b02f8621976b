package pocketsphinx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/utterance"
	"github.com/vmx-dev/vmx/internal/asr/utterance/utterancetest"
)

// The transcription itself (reading, cutting, upsampling, borrowing) is
// package utterance's and tested there; these tests cover what the engine
// adds: a stream per recording and word times from frames.

// fakeDecoder stands in for PocketSphinx: it "recognises" each utterance
// as its length, and records how it is used.
type fakeDecoder struct {
	f       *fakes
	streams []bool // each stream's narrowband
	lens    []int
}

func (d *fakeDecoder) startStream(narrowband bool) error {
	d.streams = append(d.streams, narrowband)
	d.f.streams.Add(1)
	return nil
}

func (d *fakeDecoder) decode(pcm []int16) (decoded, error) {
	d.lens = append(d.lens, len(pcm))
	// Words from 250 ms in to 250 ms before the end, in 10 ms frames
	// of 16 kHz audio.
	frames := len(pcm) / 160
	return decoded{Text: fmt.Sprintf("utterance of %d samples", len(pcm)), Confidence: 0.5,
		FirstFrame: 25, LastFrame: frames - 26}, nil
}

func (d *fakeDecoder) free() { d.f.Freed.Add(1) }

type fakes struct {
	utterancetest.Loads[*fakeDecoder]
	streams atomic.Int32
}

func (f *fakes) new() (decoder, error) { return f.Add(&fakeDecoder{f: f}), nil }

func fakeEngine(t *testing.T, c Config) (*Engine, *fakes) {
	t.Helper()
	f := &fakes{}
	e, err := newEngine(c.WithDefaults(), f.new)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, f
}

func TestTranscribe(t *testing.T) {
	e, f := fakeEngine(t, Config{MaxDecoders: 2})
	audio := utterancetest.PCMBytes(utterancetest.Scene(6000, [2]int{500, 1500}, [2]int{2500, 4000}))
	for range 3 {
		r, err := e.Transcribe(context.Background(), utterancetest.Telephone(audio), asr.Options{Language: "en-GB"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Engine != "pocketsphinx" || r.AudioMS != 6000 || r.Empty || len(r.Segments) != 2 {
			t.Fatalf("result %+v", r)
		}
		// Segment times come from the decoder's word frames: 250 ms
		// into the utterance, which starts 200 ms before the speech.
		s := r.Segments[0]
		if !utterancetest.Near(s.StartMS, 550, 20) || !utterancetest.Near(s.EndMS, 1450, 20) || s.Confidence != 0.5 {
			t.Errorf("first segment %+v", s)
		}
	}
	// A 16 kHz recording is not a telephone line's. (Scene's 8 kHz
	// samples read at 16 kHz: speech from 250 to 750 ms.)
	wide := utterancetest.PCMBytes(utterancetest.Scene(2000, [2]int{500, 1500}))
	if _, err := e.Transcribe(context.Background(), asr.Audio{PCM: bytes.NewReader(wide), SampleRate: 16000}, asr.Options{}); err != nil {
		t.Fatal(err)
	}
	// One decoder, loaded by New, with a stream started per recording,
	// narrowband for the 8 kHz ones.
	if n, d := f.Created.Load(), f.All()[0]; n != 1 || !slices.Equal(d.streams, []bool{true, true, true, false}) || len(d.lens) != 7 {
		t.Errorf("%d decoders loaded; streams %v and %d decodes for 3 telephone recordings of 2 utterances and a 16 kHz one of 1", n, d.streams, len(d.lens))
	}

	_, err := e.Transcribe(context.Background(), utterancetest.Telephone(nil), asr.Options{Language: "es-US"})
	if !errors.Is(err, asr.ErrUnavailable) || !strings.HasPrefix(err.Error(), "pocketsphinx: the model is en-US; cannot transcribe es-US") {
		t.Errorf("Spanish: %v, want ErrUnavailable", err)
	}

	e.Close()
	if f.Freed.Load() != f.Created.Load() {
		t.Errorf("Close freed %d of %d decoders", f.Freed.Load(), f.Created.Load())
	}
	_, err = e.Transcribe(context.Background(), utterancetest.Telephone(audio), asr.Options{})
	if !errors.Is(err, ErrClosed) || err.Error() != "pocketsphinx: engine closed" {
		t.Errorf("Transcribe after Close: %v", err)
	}
}

// MaxDecoders bounds the pool: a recording waits for the one decoder.
func TestMaxDecoders(t *testing.T) {
	e, _ := fakeEngine(t, Config{MaxDecoders: 1})
	held, err := e.pool.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer e.pool.Put(held)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	audio := utterancetest.PCMBytes(utterancetest.Scene(2000, [2]int{200, 1500}))
	if _, err := e.Transcribe(ctx, utterancetest.Telephone(audio), asr.Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for a decoder: %v", err)
	}
}

func TestNewEngineLoadError(t *testing.T) {
	boom := errors.New("out of memory")
	if _, err := newEngine(Config{}.WithDefaults(), func() (decoder, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("newEngine = %v", err)
	}
}

func TestDecodeFrames(t *testing.T) {
	f := &fakes{}
	d, _ := f.new()
	// 1 s at 16 kHz: frames 25 to 74 inclusive are 250 to 750 ms.
	got, err := decode(d, make([]int16, 16000))
	if err != nil || got.WordsStartMS != 250 || got.WordsEndMS != 750 || got.Confidence != 0.5 || got.Text != "utterance of 16000 samples" {
		t.Errorf("decode = %+v, %v", got, err)
	}
	// Too short for the fake's words: last frame before the first, so
	// no word times.
	if got, _ := decode(d, make([]int16, 320)); got.WordsStartMS != 0 || got.WordsEndMS != 0 {
		t.Errorf("no words: %+v", got)
	}
	if got, _ := decode(&fixed{d: decoded{Text: "hi", Confidence: -1, FirstFrame: -1, LastFrame: -1}}, nil); got != (utterance.Decoded{Text: "hi", Confidence: -1}) {
		t.Errorf("unknown frames: %+v", got)
	}
	boom := errors.New("boom")
	if _, err := decode(&fixed{err: boom}, nil); !errors.Is(err, boom) {
		t.Errorf("decode error: %v", err)
	}
}

// fixed is a decoder that always gives the same result.
type fixed struct {
	d   decoded
	err error
}

func (f *fixed) startStream(bool) error          { return nil }
func (f *fixed) decode([]int16) (decoded, error) { return f.d, f.err }
func (f *fixed) free()                           {}

func TestConfig(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.HMM != DefaultModelDir+"/en-us" || c.Dict != DefaultModelDir+"/cmudict-en-us.dict" ||
		c.LM != DefaultModelDir+"/en-us.lm.bin" || c.Speed != SpeedFast || c.MaxDecoders < 1 || c.DomainWeight != 0.5 ||
		c.Language != "en-US" || c.Pause != 400*time.Millisecond || c.MaxUtterance != 30*time.Second {
		t.Errorf("defaults %+v", c)
	}
	dir := t.TempDir()
	bad := Config{ModelDir: dir, DomainLM: filepath.Join(dir, "nope.lm"), DomainWeight: 1, Speed: "ludicrous", MaxDecoders: -1, Pause: 1, MaxUtterance: time.Hour}.WithDefaults()
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"hmm:", "dict:", "lm:", "domain_lm:", "domain_weight:", "speed:", "max_decoders:", "pause: 1ns must be at least 100ms", "max_utterance: 1h0m0s must be between 2s and 5m"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if !strings.HasPrefix(err.Error(), "pocketsphinx: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
	// A model directory laid out like Debian's validates.
	os.Mkdir(filepath.Join(dir, "en-us"), 0o755)
	for _, f := range []string{"cmudict-en-us.dict", "en-us.lm.bin"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	if err := (Config{ModelDir: dir}).WithDefaults().Validate(); err != nil {
		t.Errorf("Debian layout: %v", err)
	}
}
