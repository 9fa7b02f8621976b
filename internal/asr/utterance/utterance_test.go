package utterance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/utterance/utterancetest"
	"github.com/vmx-dev/vmx/internal/audio/vad"
)

var (
	scene     = utterancetest.Scene
	pcmBytes  = utterancetest.PCMBytes
	telephone = utterancetest.Telephone
	near      = utterancetest.Near
)

// fakeDecoder stands in for a speech recogniser: it "recognises" each
// utterance as its length, and records how it is used.
type fakeDecoder struct {
	f      *fakes
	starts int
	lens   []int
}

type fakes struct {
	utterancetest.Loads[*fakeDecoder]
	starts, calls         atomic.Int32
	inFlight, maxInFlight atomic.Int32
	// onDecode, when set, runs in each decode; an error fails it.
	onDecode func(*fakeDecoder) error
	// startErr fails Start.
	startErr error
	// result, when set, replaces the default result for n samples.
	result func(n int) Decoded
}

func (f *fakes) load() (*fakeDecoder, error) { return f.Add(&fakeDecoder{f: f}), nil }

func (f *fakes) free(*fakeDecoder) { f.Freed.Add(1) }

func (f *fakes) start(d *fakeDecoder) error {
	d.starts++
	f.starts.Add(1)
	return f.startErr
}

func (f *fakes) decode(d *fakeDecoder, pcm []int16) (Decoded, error) {
	d.lens = append(d.lens, len(pcm))
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if f.onDecode != nil {
		if err := f.onDecode(d); err != nil {
			return Decoded{}, err
		}
	}
	if f.result != nil {
		return f.result(len(pcm)), nil
	}
	// Words from 250 ms in to 250 ms before the end of 16 kHz audio.
	return Decoded{Text: fmt.Sprintf("utterance of %d samples", len(pcm)), Confidence: 0.5,
		WordsStartMS: 250, WordsEndMS: int64(len(pcm))/16 - 250}, nil
}

// newFake returns a transcriber of fake decoders, at most max of them.
func newFake(t *testing.T, borrow Borrow, max int) (*Transcriber[*fakeDecoder], *fakes) {
	t.Helper()
	f := &fakes{}
	tr := &Transcriber[*fakeDecoder]{
		Name:     "fake",
		Language: "en-US",
		Options:  Options{}.WithDefaults(),
		Pool:     NewPool("fake", max, f.load, f.free),
		Borrow:   borrow,
		Start:    f.start,
		Decode:   f.decode,
	}
	t.Cleanup(tr.Pool.Close)
	return tr, f
}

func TestTranscribe(t *testing.T) {
	tr, f := newFake(t, PerRecording, 2)
	audio := pcmBytes(scene(6000, [2]int{500, 1500}, [2]int{2500, 4000}))
	r, err := tr.Transcribe(context.Background(), telephone(audio), asr.Options{Language: "en-GB"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Engine != "fake" || r.AudioMS != 6000 || r.Empty || len(r.Segments) != 2 {
		t.Fatalf("result %+v", r)
	}
	// Utterances reach the decoder at 16 kHz: 1 s of speech plus 200 ms
	// padding each side is 1.4 s, 22400 samples (within a frame).
	d := f.All()[0]
	if n := d.lens[0]; !near(int64(n), 22400, 320) {
		t.Errorf("first utterance reached the decoder as %d samples", n)
	}
	if len(f.All()) != 1 || d.starts != 1 || len(d.lens) != 2 {
		t.Errorf("%d decoders, %d starts, %d decodes for one recording of two utterances", len(f.All()), d.starts, len(d.lens))
	}
	// Segment times are the decoder's word times: 250 ms into the
	// utterance, which starts 200 ms before the speech.
	s := r.Segments[0]
	if !near(s.StartMS, 550, 20) || !near(s.EndMS, 1450, 20) || s.Confidence != 0.5 {
		t.Errorf("first segment %+v", s)
	}
	if want := fmt.Sprintf("utterance of %d samples", d.lens[0]); s.Text != want {
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
	r2, err := tr.Transcribe(context.Background(), asr.Audio{PCM: iotest.OneByteReader(bytes.NewReader(audio)), SampleRate: 8000}, asr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Text != r.Text || len(r2.Segments) != 2 || r2.Segments[1] != r.Segments[1] {
		t.Errorf("one-byte reads: %+v, want %+v", r2, r)
	}
	// A trailing half sample is ignored.
	r3, err := tr.Transcribe(context.Background(), telephone(append(audio, 1)), asr.Options{})
	if err != nil || r3.Text != r.Text {
		t.Errorf("odd byte count: %+v, %v", r3, err)
	}
}

// Without word times a segment is the detector's span, padding included;
// word times past the span are cut to it.
func TestTranscribeSegmentTimes(t *testing.T) {
	tr, f := newFake(t, PerRecording, 1)
	audio := pcmBytes(scene(3000, [2]int{500, 1500}))
	for _, tc := range []struct {
		name               string
		words              func(n int) (int64, int64)
		wantStart, wantEnd int64
	}{
		{"unknown", func(int) (int64, int64) { return 0, 0 }, 300, 1700},
		{"inverted", func(int) (int64, int64) { return 500, 100 }, 300, 1700},
		{"negative", func(int) (int64, int64) { return -1, -1 }, 300, 1700},
		{"past the end", func(n int) (int64, int64) { return 100, int64(n)/16 + 500 }, 400, 1700},
	} {
		f.result = func(n int) Decoded {
			s, e := tc.words(n)
			return Decoded{Text: "hello", Confidence: -1, WordsStartMS: s, WordsEndMS: e}
		}
		r, err := tr.Transcribe(context.Background(), telephone(audio), asr.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Segments) != 1 {
			t.Fatalf("%s: %+v", tc.name, r)
		}
		if s := r.Segments[0]; !near(s.StartMS, tc.wantStart, 20) || !near(s.EndMS, tc.wantEnd, 20) || s.Confidence != -1 {
			t.Errorf("%s: segment %+v, want %d–%d ms", tc.name, s, tc.wantStart, tc.wantEnd)
		}
	}
}

func TestTranscribeWideBandSkipsUpsampling(t *testing.T) {
	tr, f := newFake(t, PerRecording, 1)
	wide := utterancetest.Wide(scene(3000, [2]int{500, 1500}))
	r, err := tr.Transcribe(context.Background(), asr.Audio{PCM: bytes.NewReader(pcmBytes(wide)), SampleRate: 16000}, asr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.AudioMS != 3000 || len(r.Segments) != 1 {
		t.Fatalf("16 kHz: %+v", r)
	}
	// 1 s of speech and 400 ms of padding, passed through as they are.
	if n := f.All()[0].lens[0]; !near(int64(n), 22400, 320) {
		t.Errorf("16 kHz utterance reached the decoder as %d samples", n)
	}
}

func TestTranscribeSilenceIsEmptyWithoutADecoder(t *testing.T) {
	for _, borrow := range []Borrow{PerRecording, PerUtterance} {
		tr, f := newFake(t, borrow, 1)
		r, err := tr.Transcribe(context.Background(), telephone(pcmBytes(scene(3000))), asr.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Empty || r.Text != "" || len(r.Segments) != 0 || r.SpeechMS != 0 || r.AudioMS != 3000 || r.Segments == nil {
			t.Errorf("silence: %+v", r)
		}
		if n := f.Created.Load() + f.starts.Load(); n != 0 {
			t.Errorf("borrow %d: a silent recording loaded or started a decoder", borrow)
		}
		// Zero bytes are a valid, empty recording too.
		if r, err := tr.Transcribe(context.Background(), telephone(nil), asr.Options{}); err != nil || !r.Empty || r.AudioMS != 0 {
			t.Errorf("no audio: %+v, %v", r, err)
		}
	}
}

// Speech the decoder hears no words in is no speech: the voicemail is
// empty, as it is when utterances are too short to decode.
func TestTranscribeNoWordsIsEmpty(t *testing.T) {
	tr, f := newFake(t, PerUtterance, 1)
	f.result = func(int) Decoded { return Decoded{Confidence: -1} }
	audio := pcmBytes(scene(3000, [2]int{500, 1500}))
	r, err := tr.Transcribe(context.Background(), telephone(audio), asr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Empty || len(r.Segments) != 0 || r.Text != "" || r.SpeechMS == 0 || f.calls.Load() != 1 {
		t.Errorf("wordless speech: %+v after %d decodes", r, f.calls.Load())
	}

	// MinSamples skips the utterance without borrowing a decoder: 1.4 s
	// at 16 kHz is 22400 samples.
	tr2, f2 := newFake(t, PerUtterance, 1)
	tr2.MinSamples = 23000
	if r, err := tr2.Transcribe(context.Background(), telephone(audio), asr.Options{}); err != nil || !r.Empty || r.SpeechMS == 0 {
		t.Errorf("short utterance: %+v, %v", r, err)
	}
	if n := f2.Created.Load() + f2.calls.Load(); n != 0 {
		t.Errorf("an utterance under MinSamples was decoded")
	}
	tr2.MinSamples = 22000
	if r, err := tr2.Transcribe(context.Background(), telephone(audio), asr.Options{}); err != nil || len(r.Segments) != 1 {
		t.Errorf("utterance over MinSamples: %+v, %v", r, err)
	}
}

func TestTranscribeRejects(t *testing.T) {
	tr, f := newFake(t, PerRecording, 1)
	_, err := tr.Transcribe(context.Background(), telephone(nil), asr.Options{Language: "es-US"})
	if !errors.Is(err, asr.ErrUnavailable) || err.Error() != "fake: the model is en-US; cannot transcribe es-US: asr: engine unavailable" {
		t.Errorf("Spanish: %v, want ErrUnavailable", err)
	}
	_, err = tr.Transcribe(context.Background(), asr.Audio{PCM: bytes.NewReader(nil), SampleRate: 44100}, asr.Options{})
	if err == nil || err.Error() != "fake: sample rate 44100 Hz not supported (8000 or 16000)" {
		t.Errorf("44.1 kHz: %v", err)
	}
	if _, err := tr.Transcribe(context.Background(), asr.Audio{SampleRate: 8000}, asr.Options{}); err == nil || err.Error() != "fake: no audio" {
		t.Errorf("nil PCM: %v", err)
	}
	rerr := errors.New("disk on fire")
	_, err = tr.Transcribe(context.Background(), asr.Audio{PCM: iotest.ErrReader(rerr), SampleRate: 8000}, asr.Options{})
	if !errors.Is(err, rerr) || !strings.HasPrefix(err.Error(), "fake: reading audio: ") {
		t.Errorf("read error: %v", err)
	}
	// A read error after speech fails the transcription too.
	audio := pcmBytes(scene(3000, [2]int{500, 1500}))
	_, err = tr.Transcribe(context.Background(), asr.Audio{PCM: iotest.TimeoutReader(bytes.NewReader(audio)), SampleRate: 8000}, asr.Options{})
	if !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("read error mid-stream: %v", err)
	}
	tr.Options.VAD = vad.Config{Engine: "psychic"}
	if _, err := tr.Transcribe(context.Background(), telephone(audio), asr.Options{}); err == nil || !strings.HasPrefix(err.Error(), "fake: ") {
		t.Errorf("bad detector: %v", err)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d utterances decoded by rejected transcriptions", n)
	}
}

// A PerRecording decoder is started once for the recording; a
// PerUtterance one is borrowed, and started, for each utterance.
func TestBorrow(t *testing.T) {
	audio := pcmBytes(scene(8000, [2]int{500, 1500}, [2]int{2500, 3500}, [2]int{4500, 5500}))
	for borrow, wantStarts := range map[Borrow]int32{PerRecording: 1, PerUtterance: 3} {
		tr, f := newFake(t, borrow, 1)
		// While an utterance is decoded, the decoder is out of the pool.
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		var lent []bool
		f.onDecode = func(*fakeDecoder) error {
			_, err := tr.Pool.Get(ctx)
			lent = append(lent, err != nil)
			return nil
		}
		<-ctx.Done()
		r, err := tr.Transcribe(context.Background(), telephone(audio), asr.Options{})
		if err != nil || len(r.Segments) != 3 {
			t.Fatalf("borrow %d: %+v, %v", borrow, r, err)
		}
		if n := f.starts.Load(); n != wantStarts {
			t.Errorf("borrow %d: %d starts for 3 utterances, want %d", borrow, n, wantStarts)
		}
		if fmt.Sprint(lent) != "[true true true]" || f.Created.Load() != 1 {
			t.Errorf("borrow %d: decoder lent during decodes: %v; %d loaded", borrow, lent, f.Created.Load())
		}
		// Back in the pool afterwards.
		d, err := tr.Pool.Get(context.Background())
		if err != nil || d != f.All()[0] {
			t.Errorf("borrow %d: decoder not returned: %v", borrow, err)
		}
		tr.Pool.Put(d)
	}
}

func TestTranscribeCancel(t *testing.T) {
	tr, f := newFake(t, PerRecording, 1)
	audio := pcmBytes(scene(10000, [2]int{500, 1500}, [2]int{2500, 3500}, [2]int{4500, 5500}, [2]int{6500, 7500}))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Transcribe(ctx, telephone(audio), asr.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d utterances decoded after cancellation before the start", n)
	}

	// Cancelled during the first utterance: no further utterance is
	// decoded, and the decoder goes back to the pool.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	f.onDecode = func(*fakeDecoder) error { cancel(); return nil }
	if _, err := tr.Transcribe(ctx, telephone(audio), asr.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during: %v", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d utterances decoded after cancellation in the first", n)
	}
	f.onDecode = nil
	if _, err := tr.Transcribe(context.Background(), telephone(audio), asr.Options{}); err != nil {
		t.Fatal(err)
	}
	if n, freed := f.Created.Load(), f.Freed.Load(); n != 1 || freed != 0 {
		t.Errorf("cancellation cost a decoder: %d loaded, %d freed", n, freed)
	}

	// Waiting for a busy decoder gives up with the context.
	held, err := tr.Pool.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := tr.Transcribe(ctx, telephone(audio), asr.Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for a decoder: %v", err)
	}
	tr.Pool.Put(held)
}

// A decoder that fails to start or decode is freed, and the next
// transcription loads a fresh one.
func TestFailedDecoderIsDiscarded(t *testing.T) {
	boom := errors.New("boom")
	audio := pcmBytes(scene(2000, [2]int{200, 1500}))
	for _, tc := range []struct {
		name   string
		borrow Borrow
		fail   func(*fakes)
	}{
		{"decode", PerRecording, func(f *fakes) { f.onDecode = func(*fakeDecoder) error { return boom } }},
		{"decode per utterance", PerUtterance, func(f *fakes) { f.onDecode = func(*fakeDecoder) error { return boom } }},
		{"start", PerRecording, func(f *fakes) { f.startErr = boom }},
	} {
		tr, f := newFake(t, tc.borrow, 1)
		tc.fail(f)
		if _, err := tr.Transcribe(context.Background(), telephone(audio), asr.Options{}); !errors.Is(err, boom) {
			t.Fatalf("%s: error %v", tc.name, err)
		}
		if f.Freed.Load() != 1 {
			t.Errorf("%s: failed decoder not freed", tc.name)
		}
		f.onDecode, f.startErr = nil, nil
		if _, err := tr.Transcribe(context.Background(), telephone(audio), asr.Options{}); err != nil {
			t.Fatalf("%s: after a failure: %v", tc.name, err)
		}
		if n := f.Created.Load(); n != 2 {
			t.Errorf("%s: %d decoders loaded, want a fresh one after the failure", tc.name, n)
		}
	}
}

// Concurrent transcriptions share the pool's decoders, never more than
// its maximum at once, and agree.
func TestTranscribeConcurrent(t *testing.T) {
	for _, borrow := range []Borrow{PerRecording, PerUtterance} {
		tr, f := newFake(t, borrow, 2)
		f.onDecode = func(*fakeDecoder) error { time.Sleep(20 * time.Millisecond); return nil }
		audio := pcmBytes(scene(4000, [2]int{200, 1000}, [2]int{2000, 3000}))
		utterancetest.Concurrent(t, tr, audio, 6)
		// Recordings that hold a decoder between utterances may not
		// overlap their decodes; utterances that each borrow one do.
		if n := f.maxInFlight.Load(); n > 2 || borrow == PerUtterance && n != 2 {
			t.Errorf("borrow %d: %d utterances decoded at once with 2 decoders", borrow, n)
		}
		if n := tr.Pool.Loaded(); n > 2 || n != int(f.Created.Load()) || f.calls.Load() != 12 {
			t.Errorf("borrow %d: %d decoders loaded (%d by the constructor), %d decodes", borrow, n, f.Created.Load(), f.calls.Load())
		}
	}
}
