package pocketsphinx

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
)

// fakeDecoder stands in for PocketSphinx: it "recognises" each utterance
// as its length, and records how it is used.
type fakeDecoder struct {
	f       *fakes
	streams int
	lens    []int
}

func (d *fakeDecoder) startStream() error {
	d.streams++
	d.f.streams.Add(1)
	return nil
}

func (d *fakeDecoder) decode(pcm []int16) (decoded, error) {
	d.lens = append(d.lens, len(pcm))
	if d.f.onDecode != nil {
		if err := d.f.onDecode(d); err != nil {
			return decoded{}, err
		}
	}
	// Words from 250 ms in to 250 ms before the end, in 10 ms frames
	// of 16 kHz audio.
	frames := len(pcm) / 160
	return decoded{Text: fmt.Sprintf("utterance of %d samples", len(pcm)), Confidence: 0.5,
		FirstFrame: 25, LastFrame: frames - 26}, nil
}

func (d *fakeDecoder) free() { d.f.freed.Add(1) }

type fakes struct {
	created, freed, streams atomic.Int32
	onDecode                func(*fakeDecoder) error
	mu                      sync.Mutex
	all                     []*fakeDecoder
}

func (f *fakes) new() (decoder, error) {
	f.created.Add(1)
	d := &fakeDecoder{f: f}
	f.mu.Lock()
	f.all = append(f.all, d)
	f.mu.Unlock()
	return d, nil
}

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

// scene builds 8 kHz test audio: low line noise with "speech" in the given
// spans, in milliseconds: loud noise in syllable-rate bursts, which the
// voice-activity detector takes for speech (a steady tone it would reject
// as a beep).
func scene(totalMS int, speech ...[2]int) []int16 {
	rng := rand.New(rand.NewPCG(7, 7))
	s := make([]int16, totalMS*8)
	for i := range s {
		s[i] = int16(rng.NormFloat64() * 10) // ≈ −70 dBFS
	}
	for _, sp := range speech {
		for i := sp[0] * 8; i < sp[1]*8; i++ {
			t := float64(i-sp[0]*8) / 8000
			s[i] += int16(rng.NormFloat64() * 3000 * (0.4 + 0.6*math.Abs(math.Sin(2*math.Pi*3*t))))
		}
	}
	return s
}

func abs(x int) int { return max(x, -x) }

func pcmBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func telephone(b []byte) asr.Audio {
	return asr.Audio{PCM: bytes.NewReader(b), SampleRate: 8000}
}

func TestTranscribePlumbing(t *testing.T) {
	e, f := fakeEngine(t, Config{})
	audio := pcmBytes(scene(6000, [2]int{500, 1500}, [2]int{2500, 4000}))
	r, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{Language: "en-GB"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Engine != "pocketsphinx" || r.AudioMS != 6000 || r.Empty || len(r.Segments) != 2 {
		t.Fatalf("result %+v", r)
	}
	// Utterances reach the decoder at 16 kHz: 1 s of speech plus 200 ms
	// padding each side is 1.4 s, 22400 samples (within a frame).
	d := f.all[0]
	if n := d.lens[0]; n < 22400-320 || n > 22400+320 {
		t.Errorf("first utterance reached the decoder as %d samples", n)
	}
	if d.streams != 1 {
		t.Errorf("ps_start_stream called %d times for one recording", d.streams)
	}
	// Segment times come from the decoder's word frames: 250 ms into
	// the utterance, which starts 200 ms before the speech.
	s := r.Segments[0]
	if abs(int(s.StartMS)-550) > 20 || abs(int(s.EndMS)-1450) > 20 || s.Confidence != 0.5 {
		t.Errorf("first segment %+v", s)
	}
	if want := r.Segments[0].Text + " " + r.Segments[1].Text; r.Text != want {
		t.Errorf("text %q, want %q", r.Text, want)
	}
	// Speech time is the detector's: 1 s and 1.5 s of speech.
	if abs(int(r.SpeechMS)-2500) > 100 {
		t.Errorf("speech %d ms, want ≈ 2500", r.SpeechMS)
	}

	// Short and odd-sized reads give the same transcript.
	r2, err := e.Transcribe(context.Background(), asr.Audio{PCM: iotest.OneByteReader(bytes.NewReader(audio)), SampleRate: 8000}, asr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Text != r.Text || len(r2.Segments) != len(r.Segments) || r2.Segments[1] != r.Segments[1] {
		t.Errorf("one-byte reads: %+v, want %+v", r2, r)
	}
	// A trailing half sample is ignored.
	if _, err := e.Transcribe(context.Background(), telephone(append(audio, 1)), asr.Options{}); err != nil {
		t.Errorf("odd byte count: %v", err)
	}
}

func TestTranscribeSilenceIsEmptyWithoutADecoder(t *testing.T) {
	e, f := fakeEngine(t, Config{})
	r, err := e.Transcribe(context.Background(), telephone(pcmBytes(scene(3000))), asr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Empty || r.Text != "" || len(r.Segments) != 0 || r.SpeechMS != 0 || r.AudioMS != 3000 || r.Segments == nil {
		t.Errorf("silence: %+v", r)
	}
	if n := f.streams.Load(); n != 0 {
		t.Errorf("a silent recording borrowed a decoder (%d streams)", n)
	}
	// Zero bytes are a valid, empty recording too.
	if r, err := e.Transcribe(context.Background(), telephone(nil), asr.Options{}); err != nil || !r.Empty {
		t.Errorf("no audio: %+v, %v", r, err)
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

func TestPoolReusesAndBoundsDecoders(t *testing.T) {
	e, f := fakeEngine(t, Config{MaxDecoders: 2})
	audio := pcmBytes(scene(2000, [2]int{200, 1500}))
	for range 5 {
		if _, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.created.Load(); n != 1 {
		t.Errorf("5 transcriptions in a row loaded %d decoders, want 1", n)
	}
	if n := f.streams.Load(); n != 5 {
		t.Errorf("%d streams started for 5 recordings", n)
	}

	// Eight at once, each decode slow enough to overlap: never more
	// than two decoders.
	var busy, peak atomic.Int32
	f.onDecode = func(*fakeDecoder) error {
		n := busy.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer busy.Add(-1)
		for range 200 {
			runtime.Gosched()
		}
		return nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.created.Load(); n > 2 {
		t.Errorf("%d decoders loaded with MaxDecoders 2", n)
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d decodes ran at once with MaxDecoders 2", p)
	}
	if e.pool.loaded() != int(f.created.Load()) {
		t.Errorf("pool counted %d loads, constructor %d", e.pool.loaded(), f.created.Load())
	}

	e.Close()
	if f.freed.Load() != f.created.Load() {
		t.Errorf("Close freed %d of %d decoders", f.freed.Load(), f.created.Load())
	}
	if _, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Transcribe after Close: %v", err)
	}
}

func TestTranscribeCancel(t *testing.T) {
	e, f := fakeEngine(t, Config{})
	audio := pcmBytes(scene(10000, [2]int{500, 1500}, [2]int{2500, 3500}, [2]int{4500, 5500}, [2]int{6500, 7500}))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Transcribe(ctx, telephone(audio), asr.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}

	// Cancelled during the first utterance: no further utterance is
	// decoded, and the decoder goes back to the pool.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	f.onDecode = func(*fakeDecoder) error { cancel(); return nil }
	if _, err := e.Transcribe(ctx, telephone(audio), asr.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during: %v", err)
	}
	if n := len(f.all[0].lens); n != 1 {
		t.Errorf("%d utterances decoded after cancellation in the first", n)
	}
	f.onDecode = nil
	if _, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := f.created.Load(); n != 1 {
		t.Errorf("cancellation cost a decoder: %d loaded", n)
	}

	// Waiting for a busy decoder gives up with the context.
	e1, _ := fakeEngine(t, Config{MaxDecoders: 1})
	held, err := e1.pool.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := e1.Transcribe(ctx, telephone(audio), asr.Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for a decoder: %v", err)
	}
	e1.pool.put(held)
}

func TestFailedDecoderIsDiscarded(t *testing.T) {
	e, f := fakeEngine(t, Config{MaxDecoders: 1})
	boom := errors.New("boom")
	f.onDecode = func(*fakeDecoder) error { return boom }
	audio := pcmBytes(scene(2000, [2]int{200, 1500}))
	if _, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{}); !errors.Is(err, boom) {
		t.Fatalf("decode error: %v", err)
	}
	if f.freed.Load() != 1 {
		t.Errorf("failed decoder not freed")
	}
	f.onDecode = nil
	if _, err := e.Transcribe(context.Background(), telephone(audio), asr.Options{}); err != nil {
		t.Fatalf("after a failure: %v", err)
	}
	if n := f.created.Load(); n != 2 {
		t.Errorf("%d decoders loaded, want a fresh one after the failure", n)
	}
}

func TestConfig(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.HMM != DefaultModelDir+"/en-us" || c.Dict != DefaultModelDir+"/cmudict-en-us.dict" ||
		c.LM != DefaultModelDir+"/en-us.lm.bin" || c.Speed != SpeedFast || c.MaxDecoders < 1 || c.DomainWeight != 0.5 {
		t.Errorf("defaults %+v", c)
	}
	dir := t.TempDir()
	bad := Config{ModelDir: dir, DomainLM: filepath.Join(dir, "nope.lm"), DomainWeight: 1, Speed: "ludicrous", MaxDecoders: -1, Pause: 1}.WithDefaults()
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"hmm:", "dict:", "lm:", "domain_lm:", "domain_weight:", "speed:", "max_decoders:", "pause:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	// A model directory laid out like Debian's validates.
	os.Mkdir(filepath.Join(dir, "en-us"), 0o755)
	for _, f := range []string{"cmudict-en-us.dict", "en-us.lm.bin"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	if err := (Config{ModelDir: dir}).WithDefaults().Validate(); err != nil {
		t.Errorf("Debian layout: %v", err)
	}
	for tag, ok := range map[string]bool{"": true, "en-US": true, "en_GB": true, "EN": true, "es-US": false, "fr": false} {
		if c.speaks(tag) != ok {
			t.Errorf("speaks(%q) = %v", tag, !ok)
		}
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
	// 1 s of speech and 400 ms of padding, passed through as they are.
	if n := f.all[0].lens[0]; n < 22400-320 || n > 22400+320 {
		t.Errorf("16 kHz utterance reached the decoder as %d samples", n)
	}
}
