package recording

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/store"
)

// Partial transcripts (Config.SavePartialTranscripts) are what a streaming
// recogniser calls interim results: while a side keeps speaking without
// closing an utterance, the speech so far is transcribed every
// partialEvery and stored as a partial segment, which the final segment
// of the utterance replaces.
const (
	partialEvery = 5 * time.Second
	// partialSpeech: speech the detector reported within this much of the
	// newest audio is still going on (the detector decides ~0.5 s late).
	partialSpeech = 1500 * time.Millisecond
	// partialMax bounds the audio of a partial: vad's longest utterance.
	partialMax = 20 * time.Second
	// partialPad starts a partial's audio before its first speech, as vad
	// pads utterances.
	partialPad = 200 * time.Millisecond
)

// queuedUtterances bounds the utterances of one side waiting for the
// engine; beyond, the read waits (KVS keeps the stream meanwhile), and
// partials are dropped.
const queuedUtterances = 8

// transcriber cuts one side of a call into utterances as its audio
// arrives and transcribes each with the engine in its own goroutine,
// storing the segments.
type transcriber struct {
	u        *run
	out      output
	offsetMS int64 // where this read began in the recording (after a resume)

	det     vad.Detector
	seg     *vad.Segmenter
	samples int64 // fed to seg
	odd     []byte
	buf     []int16
	closed  int64 // end of the last utterance handed out, in ms of this read

	// Partials only: a detector of its own reports raw speech, and tail
	// keeps the audio from tailMS on.
	spot        vad.Detector
	raws        []vad.Span
	speechStart int64  // first raw speech after closed, or -1
	speechEnd   int64  // end of the newest raw speech
	tail        []byte // from tailOff on
	tailOff     int
	tailMS      int64
	partialAt   int64 // audio length at the last partial

	ctx    context.Context
	queue  chan utterance
	wg     sync.WaitGroup
	failed bool // the engine failed once: later failures are not reported
}

// utterance is a stretch of speech waiting for the engine.
type utterance struct {
	startMS, endMS int64 // in the recording
	pcm            []byte
	partial        bool
}

// newTranscriber starts transcribing side o from byte offset at.
func (u *run) newTranscriber(ctx context.Context, o output, at int64) (*transcriber, error) {
	d, err := u.r.deps.Speech()
	if err != nil {
		return nil, fmt.Errorf("voice-activity detector: %w", err)
	}
	seg, err := vad.NewSegmenter(d, vad.Options{})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("voice-activity detector: %w", err)
	}
	t := &transcriber{u: u, out: o, offsetMS: at / bytesPerMS, det: d, seg: seg, speechStart: -1,
		ctx: ctx, queue: make(chan utterance, queuedUtterances)}
	if u.r.cfg.SavePartialTranscripts {
		if t.spot, err = u.r.deps.Speech(); err != nil {
			d.Close()
			return nil, fmt.Errorf("voice-activity detector: %w", err)
		}
	}
	t.wg.Add(1)
	go t.work()
	return t, nil
}

// write feeds PCM of the side.
func (t *transcriber) write(p []byte) error {
	if len(t.odd) > 0 {
		p = append(t.odd, p...)
		t.odd = nil
	}
	if len(p)%2 == 1 {
		t.odd = []byte{p[len(p)-1]}
		p = p[:len(p)-1]
	}
	t.buf = t.buf[:0]
	for i := 0; i+1 < len(p); i += 2 {
		t.buf = append(t.buf, int16(binary.LittleEndian.Uint16(p[i:])))
	}
	t.samples += int64(len(t.buf))
	if t.spot != nil {
		t.tail = append(t.tail, p...)
		t.trimTail(t.samples*1000/sampleRate - partialMax.Milliseconds())
		t.raws = t.spot.Detect(t.raws[:0], t.buf)
		for _, r := range t.raws {
			if r.StartMS >= t.closed && t.speechStart < 0 {
				t.speechStart = r.StartMS
			}
			t.speechEnd = max(t.speechEnd, r.EndMS)
		}
	}
	if err := t.seg.Write(t.buf, t.enqueue); err != nil {
		return err
	}
	if t.spot != nil {
		t.partial()
	}
	return nil
}

// enqueue is the segmenter's emit function: it copies each utterance into
// the queue.
func (t *transcriber) enqueue(v vad.Utterance) error {
	job := utterance{startMS: t.offsetMS + v.Span.StartMS, endMS: t.offsetMS + v.Span.EndMS, pcm: make([]byte, 2*len(v.Samples))}
	for i, s := range v.Samples {
		binary.LittleEndian.PutUint16(job.pcm[2*i:], uint16(s))
	}
	t.closed = max(t.closed, v.Span.EndMS)
	t.speechStart = -1
	if t.spot != nil {
		t.trimTail(t.closed)
	}
	select {
	case t.queue <- job:
		return nil
	case <-t.ctx.Done():
		return fmt.Errorf("recording: transcribe %s: %w", t.out.track, t.ctx.Err())
	}
}

// partial queues the speech going on since the last utterance, every
// partialEvery of audio, unless the engine is behind.
func (t *transcriber) partial() {
	nowMS := t.samples * 1000 / sampleRate
	if t.speechStart < 0 || nowMS-t.speechEnd > partialSpeech.Milliseconds() || nowMS-t.partialAt < partialEvery.Milliseconds() {
		return
	}
	t.partialAt = nowMS
	from := max(t.speechStart-partialPad.Milliseconds(), t.closed, nowMS-partialMax.Milliseconds())
	t.trimTail(from)
	job := utterance{startMS: t.offsetMS + t.tailMS, endMS: t.offsetMS + nowMS, pcm: bytes.Clone(t.tail[t.tailOff:]), partial: true}
	select {
	case t.queue <- job:
	default:
	}
}

// trimTail drops the kept audio before ms. The buffer is compacted only
// when that frees half of it, so that keeping a window costs linear time.
func (t *transcriber) trimTail(ms int64) {
	if ms <= t.tailMS {
		return
	}
	kept := int64(len(t.tail) - t.tailOff)
	drop := min((ms-t.tailMS)*bytesPerMS, kept-kept%bytesPerMS)
	t.tailOff += int(drop)
	t.tailMS += drop / bytesPerMS
	if t.tailOff > len(t.tail)/2 {
		t.tail = t.tail[:copy(t.tail, t.tail[t.tailOff:])]
		t.tailOff = 0
	}
}

// finish ends the side: the last utterances are transcribed and stored
// before it returns (or ctx ends). The end of the call closes an
// utterance as a pause does: it is final.
func (t *transcriber) finish(ctx context.Context) {
	if _, err := t.seg.Finish(t.enqueue); err != nil {
		t.u.log.Warn("last utterances not transcribed", "track", t.out.track, "err", err)
	}
	close(t.queue)
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	t.closeDetectors()
}

// abort stops the side without its last utterances (the recording is
// suspended; the resumed read starts a new transcriber).
func (t *transcriber) abort() {
	close(t.queue)
	t.wg.Wait()
	t.closeDetectors()
}

func (t *transcriber) closeDetectors() {
	t.det.Close()
	if t.spot != nil {
		t.spot.Close()
	}
}

func (t *transcriber) work() {
	defer t.wg.Done()
	for job := range t.queue {
		if t.ctx.Err() != nil {
			continue // drain: the recording is suspended
		}
		if err := t.transcribe(job); err != nil {
			if !t.failed {
				t.u.warn(fmt.Sprintf("%s: utterances not transcribed, the first for: %v", t.out.track, err))
			}
			t.failed = true
		}
	}
}

func (t *transcriber) transcribe(job utterance) error {
	req := t.u.det.Request
	res, err := t.u.r.deps.Engine.Transcribe(t.ctx, asr.Audio{PCM: bytes.NewReader(job.pcm), SampleRate: sampleRate},
		asr.Options{Language: req.Language, ContactID: req.ContactID})
	if err != nil {
		return fmt.Errorf("%s: %w", t.u.r.deps.Engine.Name(), err)
	}
	segs := res.Segments
	if len(segs) == 0 && strings.TrimSpace(res.Text) != "" {
		segs = []asr.Segment{{StartMS: 0, EndMS: job.endMS - job.startMS, Text: res.Text, Confidence: -1}}
	}
	if job.partial {
		// One row for the speech so far, replaced by the next partial
		// or the final segments.
		var texts []string
		for _, g := range segs {
			if s := strings.TrimSpace(g.Text); s != "" {
				texts = append(texts, s)
			}
		}
		if len(texts) == 0 {
			return nil
		}
		segs = []asr.Segment{{StartMS: 0, EndMS: job.endMS - job.startMS, Text: strings.Join(texts, " "), Confidence: -1}}
	}
	for _, g := range segs {
		text := strings.TrimSpace(g.Text)
		if text == "" {
			continue
		}
		err := t.u.r.deps.Store.PutRecordingSegment(t.ctx, store.RecordingSegment{
			ContactID: req.ContactID, Track: t.out.name,
			StartMS: job.startMS + g.StartMS, EndMS: min(job.startMS+g.EndMS, job.endMS),
			Text: text, Confidence: g.Confidence, Partial: job.partial,
		})
		if err != nil {
			return err
		}
	}
	return nil
}
