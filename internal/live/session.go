package live

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/extract"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/store"
)

// sampleRate is Amazon Connect's: 8 kHz, 16-bit, so 16 bytes a ms.
const (
	sampleRate = 8000
	bytesPerMS = 16
)

// session is one run of a conversation's transcription, from a start to a
// stop (or to the end of the stream).
type session struct {
	svc      *Service
	conv     store.LiveConversation
	live     kvs.Live
	prior    summaryDoc // what earlier sessions of the conversation streamed
	started  time.Time
	log      *slog.Logger
	seq      atomic.Int64
	roles    [2]*role // customer, agent
	cancel   context.CancelFunc
	release  context.CancelFunc // ends the heartbeat
	done     chan struct{}      // closed when reading and transcribing are over
	received time.Time          // arrival of the fragment being processed; reader goroutine only
	stopping atomic.Bool        // a stop requested through another replica is under way

	// dbMu orders the heartbeat and finalize, which write the row at the
	// version the session last wrote.
	dbMu    sync.Mutex
	version time.Time

	stopMu sync.Mutex
	stopAt time.Time // when stop-streaming was asked; zero before
	ended  time.Time // when done closed
	origin time.Time // producer time the conversation's timeline starts at
}

// role is one participant of a session.
type role struct {
	name       string
	streamID   string
	externalID string
	bytes      atomic.Int64
	messages   atomic.Int64
	utts       chan heard
}

// heard is an utterance and when the audio that closed it arrived.
type heard struct {
	utterance
	arrived time.Time
}

// summaryDoc is what the store keeps of a conversation's streaming, in
// LiveConversation.Summary.
type summaryDoc struct {
	Origin      time.Time         `json:"origin,omitzero"`
	StreamingMS int64             `json:"streamingMs"`
	Roles       map[string]counts `json:"roles"`
}

type counts struct {
	Bytes    int64 `json:"bytes"`
	Messages int64 `json:"messages"`
}

func parseSummary(s string) summaryDoc {
	var d summaryDoc
	if s != "" {
		_ = json.Unmarshal([]byte(s), &d) // a bad document counts from zero
	}
	if d.Roles == nil {
		d.Roles = map[string]counts{}
	}
	return d
}

// totals adds this session's streaming to the earlier sessions'.
func (s *session) totals() summaryDoc {
	s.stopMu.Lock()
	origin, end := s.origin, s.ended
	s.stopMu.Unlock()
	d := summaryDoc{Origin: origin, StreamingMS: s.prior.StreamingMS, Roles: map[string]counts{}}
	if end.IsZero() {
		end = s.svc.now()
	}
	d.StreamingMS += end.Sub(s.started).Milliseconds()
	for _, r := range s.roles {
		c := s.prior.Roles[r.name]
		c.Bytes += r.bytes.Load()
		c.Messages += r.messages.Load()
		d.Roles[r.name] = c
	}
	return d
}

// summary is totals as the store keeps it.
func (s *session) summary() (string, error) {
	b, err := json.Marshal(s.totals())
	if err != nil {
		return "", fmt.Errorf("live: encode summary: %w", err)
	}
	return string(b), nil
}

// stop asks the session to end: it reads on for grace (audio spoken before
// the request that Kinesis has not delivered yet), then stops.
func (s *session) stop(grace time.Duration) {
	s.stopMu.Lock()
	first := s.stopAt.IsZero()
	if first {
		s.stopAt = s.svc.now()
	}
	s.stopMu.Unlock()
	if first {
		time.AfterFunc(grace, s.cancel)
	}
}

func (s *session) stopTime() time.Time {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	return s.stopAt
}

// run reads the stream until it ends or the session is stopped, and
// transcribes what it reads; work bounds the transcriptions.
func (s *session) run(read, work context.Context) {
	defer func() {
		s.cancel() // releases the read context
		s.stopMu.Lock()
		s.ended = s.svc.now()
		s.stopMu.Unlock()
		close(s.done)
	}()
	err := s.read(read, work)
	switch {
	case err == nil, read.Err() != nil, errors.Is(err, extract.ErrNoAudio):
		s.log.Info("live transcription ended", "audio_bytes_customer", s.roles[0].bytes.Load(),
			"audio_bytes_agent", s.roles[1].bytes.Load(), "messages", s.seq.Load())
	default:
		s.log.Error("live transcription failed", "error", err)
	}
}

func (s *session) read(read, work context.Context) error {
	r, err := s.svc.kvs.ReadLive(read, s.live)
	if err != nil {
		return err
	}
	defer r.Close()
	src := &source{s: s, r: r}
	first, err := src.peek()
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	contact, _ := first.Tag(mkv.TagContactID)
	if contact != "" && contact != s.conv.GUID {
		// Transfers stream under the initial contact's ID: follow the
		// stream's contact, and stop where the stream moves on to another.
		s.log.Warn("the stream's ContactId differs from the guid; transcribing the stream's contact", "stream_contact_id", contact)
	}
	startMS := int64(0)
	if pt, ok := first.ProducerTime(); ok {
		s.stopMu.Lock()
		if s.origin.IsZero() {
			s.origin = pt
		}
		startMS = max(pt.Sub(s.origin).Milliseconds(), 0)
		s.stopMu.Unlock()
	}

	var wg sync.WaitGroup
	var trackers [2]*tracker
	for i, ro := range s.roles {
		t, err := s.newTracker(ro, startMS)
		if err != nil {
			for _, t := range trackers[:i] {
				t.close()
			}
			return err
		}
		trackers[i] = t
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range ro.utts {
				s.transcribe(work, ro, h)
			}
		}()
	}
	_, err = extract.Run(read, src, extract.Options{
		ContactID:        contact,
		StopAfterContact: true,
		FillGaps:         true,
		Logger:           s.log,
	}, extract.Outputs{
		From: &trackWriter{t: trackers[0], r: s.roles[0], m: s.svc.m},
		To:   &trackWriter{t: trackers[1], r: s.roles[1], m: s.svc.m},
	})
	s.received = time.Now()
	for i, t := range trackers {
		if ferr := t.Finish(); ferr != nil && err == nil {
			err = ferr
		}
		t.close()
		close(s.roles[i].utts)
	}
	wg.Wait()
	return err
}

func (s *session) newTracker(ro *role, startMS int64) (*tracker, error) {
	cfg := s.svc.cfg.VAD
	cfg.SampleRate = sampleRate
	cfg.Logger = s.log
	main, err := vad.New(cfg)
	if err != nil {
		return nil, err
	}
	probe, err := vad.New(cfg)
	if err != nil {
		main.Close()
		return nil, err
	}
	return newTracker(main, probe, s.svc.cfg.Pause, s.svc.cfg.MaxUtterance, startMS, func(u utterance) error {
		ro.utts <- heard{utterance: u, arrived: s.received}
		return nil
	})
}

// close releases the tracker's detectors.
func (t *tracker) close() {
	t.w.Detector.Close()
	t.probe.Close()
}

// source hands the live reader's fragments to extract, noting when each
// arrived, and ends the read at the first fragment that began after a stop
// request.
type source struct {
	s     *session
	r     *kvs.LiveReader
	first *mkv.Fragment
}

// peek reads up to the first fragment that is not an error chunk and keeps
// it for Next.
func (src *source) peek() (*mkv.Fragment, error) {
	for {
		f, err := src.r.Next()
		if err != nil {
			return nil, err
		}
		if code, detail, ok := f.ErrorChunk(); ok {
			src.s.log.Warn("kvs error chunk", "fragment", f.FragmentNumber(), "code", code, "detail", detail)
			continue
		}
		src.first = f
		return f, nil
	}
}

func (src *source) Next() (*mkv.Fragment, error) {
	f := src.first
	src.first = nil
	if f == nil {
		var err error
		if f, err = src.r.Next(); err != nil {
			return nil, err
		}
	}
	if at := src.s.stopTime(); !at.IsZero() {
		if t, ok := f.ServerTime(); ok && !t.Before(at) {
			return nil, io.EOF
		}
	}
	src.s.received = time.Now()
	return f, nil
}

// trackWriter feeds one participant's PCM from extract to its tracker.
type trackWriter struct {
	t *tracker
	r *role
	m *Metrics
}

func (w *trackWriter) Write(p []byte) (int, error) {
	w.r.bytes.Add(int64(len(p)))
	w.m.audio.WithLabelValues(w.r.name).Add(float64(len(p)))
	if err := w.t.Write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// transcribe decodes one utterance, stores its message and queues it for
// every target.
func (s *session) transcribe(ctx context.Context, ro *role, h heard) {
	began := time.Now()
	pcm := make([]byte, 2*len(h.Samples))
	for i, v := range h.Samples {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(v))
	}
	res, err := s.svc.engine.Transcribe(ctx, asr.Audio{PCM: bytes.NewReader(pcm), SampleRate: sampleRate},
		asr.Options{Language: s.conv.Language, ContactID: s.conv.GUID})
	s.svc.m.decode.Observe(time.Since(began).Seconds())
	if err != nil {
		s.svc.m.utterances.WithLabelValues(ro.name, "failed").Inc()
		s.log.Error("utterance not transcribed", "role", ro.name, "start_ms", h.StartMS, "end_ms", h.EndMS, "error", err)
		return
	}
	text, start, end := textOf(res, h.utterance)
	if text == "" {
		s.svc.m.utterances.WithLabelValues(ro.name, "empty").Inc()
		return
	}
	if s.conv.Redact {
		text = s.svc.masker.Mask(text)
	}
	s.svc.m.utterances.WithLabelValues(ro.name, "transcribed").Inc()
	m := &store.LiveMessage{
		GUID:       s.conv.GUID,
		Seq:        s.seq.Add(1),
		StreamID:   ro.streamID,
		Role:       ro.name,
		ExternalID: ro.externalID,
		StartMS:    start,
		EndMS:      end,
		Text:       text,
		CreatedAt:  s.svc.now().UTC(),
	}
	ro.messages.Add(1)
	if err := s.svc.db.AddLiveMessage(ctx, m); err != nil {
		s.log.Error("transcript message not stored; still sent", "seq", m.Seq, "error", err)
	}
	msg := messageOf(m)
	msg.Timestamp = nil
	body, err := json.Marshal(msg)
	if err != nil {
		s.log.Error("encode transcript message", "error", err)
		return
	}
	for _, p := range s.svc.pubs {
		p.enqueue(&pending{guid: m.GUID, seq: m.Seq, body: body, audioEnd: h.arrived})
	}
}

// textOf joins the engine's segments and narrows the utterance's times to
// the words when the engine timed them.
func textOf(res *asr.Result, u utterance) (text string, start, end int64) {
	start, end = u.StartMS, u.EndMS
	var words []string
	for _, seg := range res.Segments {
		if t := strings.TrimSpace(seg.Text); t != "" {
			words = append(words, t)
		}
	}
	if len(words) == 0 {
		return strings.TrimSpace(res.Text), start, end
	}
	first, last := res.Segments[0], res.Segments[len(res.Segments)-1]
	if first.EndMS > first.StartMS && last.EndMS > last.StartMS && u.StartMS+last.EndMS <= u.EndMS {
		start, end = u.StartMS+first.StartMS, u.StartMS+last.EndMS
	}
	return strings.Join(words, " "), start, end
}
