package sherpa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// fakeRecognizer stands in for sherpa-onnx: it "recognises" each utterance
// as its length, and records how it is used.
type fakeRecognizer struct {
	f    *fakes
	lens []int
}

func (r *fakeRecognizer) recognize(pcm []int16) recognized {
	r.lens = append(r.lens, len(pcm))
	n := r.f.inFlight.Add(1)
	for {
		m := r.f.maxInFlight.Load()
		if n <= m || r.f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if r.f.onRecognize != nil {
		r.f.onRecognize()
	}
	r.f.inFlight.Add(-1)
	r.f.calls.Add(1)
	if r.f.text != nil {
		return recognized{Text: r.f.text(len(pcm)), Confidence: -1}
	}
	return recognized{Text: fmt.Sprintf("  UTTERANCE OF %d SAMPLES ", len(pcm)), Confidence: 0.5}
}

func (r *fakeRecognizer) free() { r.f.freed.Add(1) }

type fakes struct {
	created, freed, calls atomic.Int32
	inFlight, maxInFlight atomic.Int32
	onRecognize           func()
	text                  func(samples int) string
	mu                    sync.Mutex
	all                   []*fakeRecognizer
}

func (f *fakes) new() (recognizer, error) {
	f.created.Add(1)
	r := &fakeRecognizer{f: f}
	f.mu.Lock()
	f.all = append(f.all, r)
	f.mu.Unlock()
	return r, nil
}

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

func telephone(b []byte) asr.Audio {
	return asr.Audio{PCM: bytes.NewReader(b), SampleRate: 8000}
}

func near(got, want, tol int64) bool { return got >= want-tol && got <= want+tol }

func TestTranscribePlumbing(t *testing.T) {
	e, f := fakeEngine(t, Config{})
	audio := pcmBytes(scene(6000, [2]int{500, 1500}, [2]int{2500, 4000}))
	r, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{Language: "en-GB"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Engine != "sherpa" || r.AudioMS != 6000 || r.Empty || len(r.Segments) != 2 {
		t.Fatalf("result %+v", r)
	}
	// Utterances reach the recogniser at 16 kHz: 1 s of speech plus
	// 200 ms padding each side is 1.4 s, 22400 samples (within a frame).
	if n := f.all[0].lens[0]; !near(int64(n), 22400, 320) {
		t.Errorf("first utterance reached the recogniser as %d samples", n)
	}
	// Segment times are the utterance's span, padding included; the
	// text is tidied (spaces collapsed, capitals lowered).
	s := r.Segments[0]
	if !near(s.StartMS, 300, 20) || !near(s.EndMS, 1700, 20) || s.Confidence != 0.5 {
		t.Errorf("first segment %+v", s)
	}
	if want := fmt.Sprintf("utterance of %d samples", f.all[0].lens[0]); s.Text != want {
		t.Errorf("segment text %q, want %q", s.Text, want)
	}
	if want := r.Segments[0].Text + " " + r.Segments[1].Text; r.Text != want {
		t.Errorf("text %q, want %q", r.Text, want)
	}
	// Speech time is the detector's: 1 s and 1.5 s of speech.
	if !near(r.SpeechMS, 2500, 100) {
		t.Errorf("speech %d ms, want ≈ 2500", r.SpeechMS)
	}

	// Short and odd-sized reads give the same transcript.
	r2, err := e.Transcribe(context.Background(), asr.Audio{PCM: iotest.OneByteReader(bytes.NewReader(audio)), SampleRate: 8000}, asr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Text != r.Text || len(r2.Segments) != 2 || r2.Segments[1] != r.Segments[1] {
		t.Errorf("one-byte reads: %+v, want %+v", r2, r)
	}
	// A trailing half sample is ignored.
	if _, err := e.Transcribe(context.Background(), telephone(append(audio, 1)), asr.Options{}); err != nil {
		t.Errorf("odd byte count: %v", err)
	}
}

func TestTranscribeWideBandSkipsUpsampling(t *testing.T) {
	e, f := fakeEngine(t, Config{})
	narrow := scene(3000, [2]int{500, 1500})
	wide := make([]int16, 2*len(narrow))
	for i, v := range narrow {
		wide[2*i], wide[2*i+1] = v, v
	}
	r, err := e.Transcribe(context.Background(), asr.Audio{PCM: bytes.NewReader(pcmBytes(wide)), SampleRate: 16000}, asr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.AudioMS != 3000 || len(r.Segments) != 1 {
		t.Fatalf("16 kHz: %+v", r)
	}
	if n := f.all[0].lens[0]; !near(int64(n), 22400, 320) {
		t.Errorf("16 kHz utterance reached the recogniser as %d samples", n)
	}
}

func TestTranscribeSilenceIsEmpty(t *testing.T) {
	e, f := fakeEngine(t, Config{})
	r, err := e.Transcribe(context.Background(), telephone(pcmBytes(scene(3000))), asr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Empty || r.Text != "" || len(r.Segments) != 0 || r.SpeechMS != 0 || r.AudioMS != 3000 || r.Segments == nil {
		t.Errorf("silence: %+v", r)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("a silent recording was decoded %d times", n)
	}
	if r, err := e.Transcribe(context.Background(), telephone(nil), asr.Options{}); err != nil || !r.Empty {
		t.Errorf("no audio: %+v, %v", r, err)
	}
}

// Speech the model hears no words in is no speech: the voicemail is empty.
func TestTranscribeNoWordsIsEmpty(t *testing.T) {
	e, f := fakeEngine(t, Config{})
	f.text = func(int) string { return " \t" }
	r, err := e.Transcribe(context.Background(), telephone(pcmBytes(scene(3000, [2]int{500, 1500}))), asr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Empty || len(r.Segments) != 0 || r.SpeechMS == 0 || f.calls.Load() != 1 {
		t.Errorf("wordless speech: %+v after %d decodes", r, f.calls.Load())
	}
}

func TestTranscribeRejects(t *testing.T) {
	e, _ := fakeEngine(t, Config{})
	_, err := e.Transcribe(context.Background(), telephone(nil), asr.Options{Language: "es-US"})
	if !errors.Is(err, asr.ErrUnavailable) {
		t.Errorf("Spanish: %v, want ErrUnavailable", err)
	}
	if _, err := e.Transcribe(context.Background(), asr.Audio{PCM: bytes.NewReader(nil), SampleRate: 44100}, asr.Options{}); err == nil {
		t.Error("44.1 kHz accepted")
	}
	if _, err := e.Transcribe(context.Background(), asr.Audio{SampleRate: 8000}, asr.Options{}); err == nil {
		t.Error("nil PCM accepted")
	}
	rerr := errors.New("disk on fire")
	_, err = e.Transcribe(context.Background(), asr.Audio{PCM: iotest.ErrReader(rerr), SampleRate: 8000}, asr.Options{})
	if !errors.Is(err, rerr) {
		t.Errorf("read error: %v", err)
	}
}

func TestPoolBoundsConcurrency(t *testing.T) {
	e, f := fakeEngine(t, Config{MaxConcurrent: 2})
	f.onRecognize = func() { time.Sleep(20 * time.Millisecond) }
	audio := pcmBytes(scene(4000, [2]int{200, 1000}, [2]int{2000, 3000}))
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			r, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{})
			if err == nil && len(r.Segments) != 2 {
				err = fmt.Errorf("result %+v", r)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := f.maxInFlight.Load(); n != 2 {
		t.Errorf("%d utterances decoded at once, want 2", n)
	}
	if n := e.pool.loaded(); n != 2 {
		t.Errorf("%d recognisers loaded, want 2", n)
	}
	if n := f.calls.Load(); n != 12 {
		t.Errorf("%d utterances decoded, want 12", n)
	}
	e.Close()
	if n := f.freed.Load(); n != 2 {
		t.Errorf("Close freed %d recognisers, want 2", n)
	}
	if _, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestTranscribeCancel(t *testing.T) {
	e, f := fakeEngine(t, Config{})
	audio := pcmBytes(scene(8000, [2]int{500, 1500}, [2]int{2500, 3500}, [2]int{4500, 5500}))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Transcribe(ctx, telephone(audio), asr.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d utterances decoded after cancellation before the start", n)
	}

	// Cancelled during the first utterance: no further utterance is
	// decoded, and the recogniser goes back to the pool.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	f.onRecognize = cancel
	if _, err := e.Transcribe(ctx, telephone(audio), asr.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during: %v", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d utterances decoded after cancellation in the first", n)
	}
	f.onRecognize = nil
	if _, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := f.created.Load(); n != 1 {
		t.Errorf("cancellation cost a recogniser: %d loaded", n)
	}

	// Waiting for a busy recogniser gives up with the context.
	e1, _ := fakeEngine(t, Config{MaxConcurrent: 1})
	held, err := e1.pool.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := e1.Transcribe(ctx, telephone(audio), asr.Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for a recogniser: %v", err)
	}
	e1.pool.put(held)
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
	if _, err := newEngine(c, (&fakes{}).new); err == nil {
		t.Error("bad vad engine accepted")
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
