package ivr_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/ivr"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/wav"
)

const key = "connect/example/CallRecordings/2025/09/13/5b2f4c1e_20250913T12:00_UTC.wav"

var (
	mono   = wav.Telephone
	stereo = wav.Format{SampleRate: 8000, Channels: 2, BitsPerSample: 16}
	t0     = time.Date(2025, 9, 13, 12, 0, 0, 0, time.UTC)
)

// sample is the value of channel ch at frame i: distinct enough that a
// cut one frame off, or with channels swapped, does not match.
func sample(i, ch int) int16 { return int16(i*7 + ch*1000 + i/3) }

// pcm returns frames of 16-bit PCM in format f.
func pcm(f wav.Format, frames int) []byte {
	b := make([]byte, 0, frames*f.BlockAlign())
	for i := range frames {
		for ch := range f.Channels {
			b = binary.LittleEndian.AppendUint16(b, uint16(sample(i, ch)))
		}
	}
	return b
}

type wavOpts struct {
	extra     int  // bytes of a LIST chunk before the data chunk
	streaming bool // data size 0xFFFFFFFF
	declare   int  // data size to declare instead of the real one, if > 0
}

// makeWAV builds a WAV around data by hand, so that the header can differ
// from what package wav writes.
func makeWAV(f wav.Format, data []byte, o wavOpts) []byte {
	var b []byte
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(4+24+8+o.extra+8+len(data)))
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, uint16(f.Channels))
	b = binary.LittleEndian.AppendUint32(b, uint32(f.SampleRate))
	b = binary.LittleEndian.AppendUint32(b, uint32(f.ByteRate()))
	b = binary.LittleEndian.AppendUint16(b, uint16(f.BlockAlign()))
	b = binary.LittleEndian.AppendUint16(b, uint16(f.BitsPerSample))
	if o.extra > 0 {
		b = append(b, "LIST"...)
		b = binary.LittleEndian.AppendUint32(b, uint32(o.extra))
		b = append(b, bytes.Repeat([]byte{'i'}, o.extra)...)
	}
	b = append(b, "data"...)
	size := uint32(len(data))
	switch {
	case o.streaming:
		size = 0xFFFFFFFF
	case o.declare > 0:
		size = uint32(o.declare)
	}
	b = binary.LittleEndian.AppendUint32(b, size)
	return append(b, data...)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func store(t *testing.T, wrap ...func(http.Handler) http.Handler) *blob.S3 {
	return blobtest.Gofakes3(t, wrap...).NewStore(t)
}

func put(t *testing.T, st blob.Store, key string, b []byte) {
	t.Helper()
	if err := st.Put(ctx(t), key, bytes.NewReader(b), blob.Attrs{ContentType: "audio/wav"}); err != nil {
		t.Fatal(err)
	}
}

// check parses out as a WAV and compares it with want's PCM.
func check(t *testing.T, out []byte, f wav.Format, want []byte) {
	t.Helper()
	rd, err := wav.NewReader(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("output is not a WAV: %v", err)
	}
	if rd.Format() != f {
		t.Errorf("output format %+v, want %+v", rd.Format(), f)
	}
	// Package wav reads a data chunk of size 0 as one of unknown length.
	if rd.DataLen() != int64(len(want)) && !(len(want) == 0 && rd.DataLen() == wav.UnknownLength) {
		t.Errorf("output header declares %d data bytes, want %d", rd.DataLen(), len(want))
	}
	got, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Errorf("output PCM (%d bytes) differs from the source from the cut (%d bytes)", len(got), len(want))
		if len(got) >= 4 && len(want) >= 4 {
			t.Logf("first bytes %x, want %x", got[:4], want[:4])
		}
	}
	if len(out) != wav.HeaderSize+len(want)+len(want)%2 {
		t.Errorf("output is %d bytes, want header and data %d", len(out), wav.HeaderSize+len(want))
	}
}

func TestCut(t *testing.T) {
	const seconds = 10
	cases := []struct {
		name   string
		format wav.Format
		opts   wavOpts
		offset time.Duration // voicemail start after recording start
		frame  int           // first frame expected in the output
		want   time.Duration // Result.Offset
	}{
		{"mono ms precision", mono, wavOpts{}, 1234*time.Millisecond + 700*time.Microsecond, 9872, 1234 * time.Millisecond},
		{"stereo", stereo, wavOpts{}, 2500 * time.Millisecond, 20000, 2500 * time.Millisecond},
		{"stereo LIST chunk", stereo, wavOpts{extra: 34}, 3001 * time.Millisecond, 24008, 3001 * time.Millisecond},
		{"header larger than the probe", mono, wavOpts{extra: 10_000}, 5 * time.Second, 40000, 5 * time.Second},
		{"streaming header", stereo, wavOpts{streaming: true}, 7 * time.Second, 56000, 7 * time.Second},
		{"zero", mono, wavOpts{}, 0, 0, 0},
		{"negative (clock skew)", stereo, wavOpts{}, -1500 * time.Millisecond, 0, 0},
		{"sub-millisecond negative", mono, wavOpts{}, -300 * time.Microsecond, 0, 0},
		{"at the end", mono, wavOpts{}, seconds * time.Second, seconds * 8000, seconds * time.Second},
		{"44.1 kHz frame alignment", wav.Format{SampleRate: 44100, Channels: 2, BitsPerSample: 16}, wavOpts{}, 1 * time.Millisecond, 44, 44 * time.Second / 44100},
		{"24-bit", wav.Format{SampleRate: 8000, Channels: 1, BitsPerSample: 24}, wavOpts{}, 10 * time.Millisecond, 80, 10 * time.Millisecond},
	}
	sources := map[string]func(t *testing.T) ivr.Source{
		"s3":          func(t *testing.T) ivr.Source { return store(t) },
		"local":       func(t *testing.T) ivr.Source { return blobtest.NewLocal(t) },
		"stream only": func(t *testing.T) ivr.Source { return streamOnly{store(t)} },
	}
	for srcName, newSource := range sources {
		t.Run(srcName, func(t *testing.T) {
			src := newSource(t)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					var data []byte
					if c.format.BitsPerSample == 16 {
						data = pcm(c.format, seconds*c.format.SampleRate)
					} else {
						for i := range seconds * c.format.SampleRate {
							data = append(data, byte(i), byte(i>>8), byte(i>>16)^0x5a)
						}
					}
					k := strings.ReplaceAll(t.Name(), " ", "_") + ".wav"
					put(t, src.(blob.Store), k, makeWAV(c.format, data, c.opts))
					var out bytes.Buffer
					cut := ivr.Cutter{Source: src}
					res, err := cut.Cut(ctx(t), ivr.Request{Key: k, RecordingStart: t0, VoicemailStart: t0.Add(c.offset)}, &out)
					if err != nil {
						t.Fatalf("Cut: %v", err)
					}
					want := data[c.frame*c.format.BlockAlign():]
					check(t, out.Bytes(), c.format, want)
					frames := len(want) / c.format.BlockAlign()
					wantRes := ivr.Result{
						Format:    c.format,
						Offset:    c.want,
						DataBytes: int64(len(want)),
						Duration:  time.Duration(frames) * time.Second / time.Duration(c.format.SampleRate),
					}
					if res != wantRes {
						t.Errorf("Result %+v, want %+v", res, wantRes)
					}
				})
			}
		})
	}
}

func TestCutFirstSample(t *testing.T) {
	// The cut starts on the frame the millisecond names, channels in order.
	st := store(t)
	put(t, st, key, makeWAV(stereo, pcm(stereo, 16000), wavOpts{}))
	var out bytes.Buffer
	cut := ivr.Cutter{Source: st}
	req := ivr.Request{Key: key, RecordingStart: t0, VoicemailStart: t0.Add(1001 * time.Millisecond)}
	if _, err := cut.Cut(ctx(t), req, &out); err != nil {
		t.Fatal(err)
	}
	first := out.Bytes()[wav.HeaderSize:]
	l := int16(binary.LittleEndian.Uint16(first[0:]))
	r := int16(binary.LittleEndian.Uint16(first[2:]))
	if l != sample(8008, 0) || r != sample(8008, 1) {
		t.Errorf("first frame (%d, %d), want frame 8008 (%d, %d)", l, r, sample(8008, 0), sample(8008, 1))
	}
}

func TestCutTruncated(t *testing.T) {
	// A data chunk that declares more than the object holds is cut to what
	// is there, dropping a partial last frame.
	data := pcm(stereo, 8000)
	st := store(t)
	put(t, st, key, makeWAV(stereo, data[:len(data)-2], wavOpts{declare: len(data) * 2}))
	var out bytes.Buffer
	cut := ivr.Cutter{Source: st}
	res, err := cut.Cut(ctx(t), ivr.Request{Key: key, RecordingStart: t0, VoicemailStart: t0.Add(500 * time.Millisecond)}, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := data[4000*4 : len(data)-4]
	check(t, out.Bytes(), stereo, want)
	if res.DataBytes != int64(len(want)) {
		t.Errorf("DataBytes %d, want %d", res.DataBytes, len(want))
	}
}

func TestCutBeyondEnd(t *testing.T) {
	for name, newSource := range map[string]func(t *testing.T) ivr.Source{
		"s3":          func(t *testing.T) ivr.Source { return store(t) },
		"stream only": func(t *testing.T) ivr.Source { return streamOnly{store(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			src := newSource(t)
			put(t, src.(blob.Store), "known.wav", makeWAV(mono, pcm(mono, 8000), wavOpts{}))
			put(t, src.(blob.Store), "streaming.wav", makeWAV(mono, pcm(mono, 8000), wavOpts{streaming: true}))
			cut := ivr.Cutter{Source: src}
			for _, k := range []string{"known.wav", "streaming.wav"} {
				var out bytes.Buffer
				req := ivr.Request{Key: k, RecordingStart: t0, VoicemailStart: t0.Add(1001 * time.Millisecond)}
				_, err := cut.Cut(ctx(t), req, &out)
				if !errors.Is(err, ivr.ErrBeyondEnd) || !retry.IsPermanent(err) {
					t.Errorf("%s: Cut 1 ms past the end = %v, want a permanent ErrBeyondEnd", k, err)
				}
				if out.Len() != 0 {
					t.Errorf("%s: %d bytes written before failing", k, out.Len())
				}
			}
		})
	}
}

func TestCutRefuses(t *testing.T) {
	st := store(t)
	put(t, st, "text.wav", []byte("this is not a RIFF file at all"))
	put(t, st, "empty.wav", nil)
	mulaw := makeWAV(mono, pcm(mono, 100), wavOpts{})
	binary.LittleEndian.PutUint16(mulaw[20:], 7) // WAVE_FORMAT_MULAW
	put(t, st, "mulaw.wav", mulaw)
	cut := ivr.Cutter{Source: st}
	for _, k := range []string{"text.wav", "empty.wav", "mulaw.wav"} {
		var out bytes.Buffer
		_, err := cut.Cut(ctx(t), ivr.Request{Key: k, RecordingStart: t0, VoicemailStart: t0}, &out)
		if err == nil || !retry.IsPermanent(err) {
			t.Errorf("%s: Cut = %v, want a permanent error", k, err)
		}
		if out.Len() != 0 {
			t.Errorf("%s: %d bytes written", k, out.Len())
		}
	}
	_, err := cut.Cut(ctx(t), ivr.Request{Key: "missing.wav"}, io.Discard)
	if !errors.Is(err, blob.ErrNotFound) || retry.IsPermanent(err) {
		t.Errorf("missing recording: Cut = %v, want a retryable ErrNotFound", err)
	}
	if _, err := (&ivr.Cutter{}).Cut(ctx(t), ivr.Request{Key: key}, io.Discard); err == nil {
		t.Error("Cut without a source succeeded")
	}
}

func TestCutWhenReady(t *testing.T) {
	st := store(t)
	data := pcm(mono, 24000)
	recording := makeWAV(mono, data, wavOpts{})
	// The recording arrives while CutWhenReady waits; it must neither fail
	// nor give up. No assertion depends on how long anything takes.
	arrived := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(30 * time.Millisecond)
		put(t, st, key, recording)
		close(arrived)
	})
	cut := ivr.Cutter{Source: st, MinBackoff: 2 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	var out bytes.Buffer
	req := ivr.Request{Key: key, RecordingStart: t0, VoicemailStart: t0.Add(time.Second)}
	res, err := cut.CutWhenReady(ctx(t), req, &out)
	wg.Wait()
	if err != nil {
		t.Fatalf("CutWhenReady: %v", err)
	}
	check(t, out.Bytes(), mono, data[8000*2:])
	if res.Duration != 2*time.Second {
		t.Errorf("Duration %s, want 2s", res.Duration)
	}
}

func TestCutWhenReadyGivesUp(t *testing.T) {
	st := store(t)
	cut := ivr.Cutter{Source: st, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
	c, cancel := context.WithTimeout(ctx(t), 50*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	_, err := cut.CutWhenReady(c, ivr.Request{Key: key, RecordingStart: t0, VoicemailStart: t0}, &out)
	var nr *ivr.NotReadyError
	if !errors.As(err, &nr) || nr.Key != key || nr.Attempts < 1 {
		t.Fatalf("CutWhenReady = %v, want a *NotReadyError", err)
	}
	if !errors.Is(err, blob.ErrNotFound) || retry.IsPermanent(err) {
		t.Errorf("NotReadyError %v should wrap ErrNotFound and be retryable", err)
	}
	if d, ok := retry.Delay(err); !ok || d <= 0 {
		t.Errorf("retry.Delay = %s, %v; want a positive delay", d, ok)
	}
	if out.Len() != 0 {
		t.Errorf("%d bytes written", out.Len())
	}
}

func TestCutWhenReadyDoesNotWaitForBadInput(t *testing.T) {
	st := store(t)
	put(t, st, key, makeWAV(mono, pcm(mono, 800), wavOpts{}))
	cut := ivr.Cutter{Source: st, MinBackoff: time.Hour}
	_, err := cut.CutWhenReady(ctx(t), ivr.Request{Key: key, RecordingStart: t0, VoicemailStart: t0.Add(time.Hour)}, io.Discard)
	if !errors.Is(err, ivr.ErrBeyondEnd) {
		t.Fatalf("CutWhenReady = %v, want ErrBeyondEnd at once", err)
	}
}

// served counts the response bytes and records the Range header of each
// GET an S3 server answers.
type served struct {
	mu     sync.Mutex
	ranges []string
	bytes  []int64
}

func (s *served) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, ".wav") {
			h.ServeHTTP(w, r)
			return
		}
		// Requests are recorded in the order they arrive.
		s.mu.Lock()
		i := len(s.ranges)
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		s.bytes = append(s.bytes, 0)
		s.mu.Unlock()
		cw := &countingResponse{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		s.mu.Lock()
		s.bytes[i] = cw.n
		s.mu.Unlock()
	})
}

type countingResponse struct {
	http.ResponseWriter
	n int64
}

func (c *countingResponse) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func TestCutReadsOnlyHeaderAndTail(t *testing.T) {
	// A 60-second stereo recording cut at 40 s: the server must send the
	// header probe and the last 20 s, nothing of the 40 s before the cut.
	var s served
	st := store(t, s.wrap)
	data := pcm(stereo, 60*8000)
	put(t, st, key, makeWAV(stereo, data, wavOpts{extra: 100}))
	var out bytes.Buffer
	cut := ivr.Cutter{Source: st}
	res, err := cut.Cut(ctx(t), ivr.Request{Key: key, RecordingStart: t0, VoicemailStart: t0.Add(40 * time.Second)}, &out)
	if err != nil {
		t.Fatal(err)
	}
	tail := data[40*8000*4:]
	check(t, out.Bytes(), stereo, tail)
	if res.DataBytes != int64(len(tail)) {
		t.Errorf("DataBytes %d, want %d", res.DataBytes, len(tail))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ranges) != 2 {
		t.Fatalf("%d GETs (%q), want 2: header and tail", len(s.ranges), s.ranges)
	}
	dataOffset := 44 + 8 + 100
	wantRanges := []string{"bytes=0-4095", "bytes=" + strconv.Itoa(dataOffset+40*8000*4) + "-" + strconv.Itoa(dataOffset+len(data)-1)}
	for i, want := range wantRanges {
		if s.ranges[i] != want {
			t.Errorf("GET %d: Range %q, want %q", i, s.ranges[i], want)
		}
	}
	if s.bytes[0] > ivr.DefaultHeaderProbe {
		t.Errorf("header read served %d bytes, want at most %d", s.bytes[0], ivr.DefaultHeaderProbe)
	}
	if s.bytes[1] != int64(len(tail)) {
		t.Errorf("tail read served %d bytes, want %d", s.bytes[1], len(tail))
	}
}

func TestCutIntoStore(t *testing.T) {
	// The cut streams into another store through a pipe: a recording never
	// sits whole in memory between the two buckets.
	src, dst := store(t), store(t)
	data := pcm(stereo, 30*8000)
	put(t, src, key, makeWAV(stereo, data, wavOpts{}))
	pr, pw := io.Pipe()
	cut := ivr.Cutter{Source: src}
	var res ivr.Result
	var cutErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		res, cutErr = cut.Cut(ctx(t), ivr.Request{Key: key, RecordingStart: t0, VoicemailStart: t0.Add(3 * time.Second)}, pw)
		pw.CloseWithError(cutErr)
	})
	vmKey := blob.RecordingKey(t0, "5b2f4c1e-0f7a-4d55-9e3c-0a1b2c3d4e5f")
	err := dst.Put(ctx(t), vmKey, pr, blob.Attrs{ContentType: "audio/wav", Metadata: map[string]string{"vmx3_lang": "en-US"}})
	wg.Wait()
	if cutErr != nil || err != nil {
		t.Fatalf("cut: %v; put: %v", cutErr, err)
	}
	rc, info, err := dst.Open(ctx(t), vmKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	check(t, out, stereo, data[3*8000*4:])
	if info.Size != int64(wav.HeaderSize)+res.DataBytes {
		t.Errorf("stored %d bytes, want %d", info.Size, int64(wav.HeaderSize)+res.DataBytes)
	}
}

func TestOffset(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want time.Duration
	}{
		{0, 0},
		{999 * time.Microsecond, 0},
		{1999 * time.Microsecond, time.Millisecond},
		{25 * time.Minute, 25 * time.Minute},
		{-time.Millisecond, 0},
		{-time.Hour, 0},
	} {
		r := ivr.Request{RecordingStart: t0, VoicemailStart: t0.Add(c.d)}
		if got := r.Offset(); got != c.want {
			t.Errorf("Offset for %s = %s, want %s", c.d, got, c.want)
		}
	}
}

func TestSplitLocation(t *testing.T) {
	for loc, want := range map[string][2]string{
		"connect-recordings/connect/x/CallRecordings/2025/09/13/a.wav": {"connect-recordings", "connect/x/CallRecordings/2025/09/13/a.wav"},
		"s3://bucket/key.wav": {"bucket", "key.wav"},
	} {
		b, k, err := ivr.SplitLocation(loc)
		if err != nil || b != want[0] || k != want[1] {
			t.Errorf("SplitLocation(%q) = %q, %q, %v", loc, b, k, err)
		}
	}
	for _, loc := range []string{"", "bucket", "bucket/", "/key", "s3://"} {
		if _, _, err := ivr.SplitLocation(loc); err == nil {
			t.Errorf("SplitLocation(%q) succeeded", loc)
		}
	}
}

// streamOnly hides the capabilities of a store beyond blob.Store, so that
// the cut reads from the start and discards.
type streamOnly struct{ blob.Store }

func TestCutVersitygw(t *testing.T) {
	st := blobtest.Versitygw(t).NewStore(t)
	data := pcm(stereo, 20*8000)
	put(t, st, key, makeWAV(stereo, data, wavOpts{extra: 26}))
	var out bytes.Buffer
	cut := ivr.Cutter{Source: st}
	res, err := cut.Cut(ctx(t), ivr.Request{Key: key, RecordingStart: t0, VoicemailStart: t0.Add(12345 * time.Millisecond)}, &out)
	if err != nil {
		t.Fatal(err)
	}
	check(t, out.Bytes(), stereo, data[98760*4:])
	if res.Offset != 12345*time.Millisecond {
		t.Errorf("Offset %s, want 12.345s", res.Offset)
	}
}
