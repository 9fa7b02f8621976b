package kvssim

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/wav"
)

// DefaultStart returns the producer time of the first fragment of a PCM
// part when neither the part nor an earlier part on the stream says
// otherwise: 2026-01-01T00:00:00Z, the time of the synthetic fixtures.
func DefaultStart() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// DefaultFragmentDuration is the length of the fragments Amazon Connect
// writes: 16 blocks of 64 ms.
const DefaultFragmentDuration = 1024 * time.Millisecond

// maxFragmentDuration bounds the fragment length of PCM parts (KVS
// fragments are at most 10 s long).
const maxFragmentDuration = 10 * time.Second

// bytesPerMS is the PCM bytes of one track per millisecond: 8 kHz, 16-bit.
const bytesPerMS = 16

// nsPerByte is the playing time of one PCM byte of one track.
const nsPerByte = int64(time.Millisecond) / bytesPerMS

// Contact describes the Amazon Connect contact whose audio a PCM part
// carries. Zero fields get deterministic defaults.
type Contact struct {
	// ContactID is written to the ContactId tag; empty means a UUID derived
	// from the stream name and the part's position.
	ContactID string
	// InstanceID is written to the InstanceId tag; empty means a UUID
	// derived from "kvssim".
	InstanceID string
	// Layout is the Connect byte layout (mkv.LayoutCA or mkv.LayoutNN).
	Layout mkv.Layout
	// FromFirst makes AUDIO_FROM_CUSTOMER track number 1.
	FromFirst bool
	// Start is the producer time of the first fragment, kept to the
	// millisecond. Zero means right after the stream's last fragment, or
	// DefaultStart() on an empty stream.
	Start time.Time
	// FragmentDuration is the length of each fragment but the last, a whole
	// number of milliseconds up to 10 s; zero means 1,024 ms.
	FragmentDuration time.Duration
}

// Source is one part of a stream: a GetMedia capture or one contact's PCM.
// Build it with FromCapture, FromPCM or FromWAV.
type Source struct {
	capture  []byte
	from, to []byte
	contact  Contact
	pcm      bool
}

// FromCapture returns a part made of a raw GetMedia byte stream, such as an
// .mkv capture: its fragments are served exactly as captured. The server
// keeps a copy of data.
func FromCapture(data []byte) Source {
	return Source{capture: bytes.Clone(data)}
}

// FromPCM returns a part holding one contact's audio: from is what the
// customer says (AUDIO_FROM_CUSTOMER), to what the customer hears
// (AUDIO_TO_CUSTOMER), both 8 kHz mono s16le. A nil to is silence as long
// as from. The slices are kept, not copied.
func FromPCM(from, to []byte, c Contact) Source {
	if to == nil {
		to = make([]byte, len(from))
	}
	return Source{from: from, to: to, contact: c, pcm: true}
}

// FromWAV reads a WAVE file of 8 kHz 16-bit PCM and returns it as a part:
// a mono file is what the customer says, with silence of the same length
// on the other track; a stereo file carries AUDIO_FROM_CUSTOMER on the
// left and AUDIO_TO_CUSTOMER on the right channel.
func FromWAV(r io.Reader, c Contact) (Source, error) {
	src, err := fromWAV(r, c)
	if err != nil {
		return Source{}, fmt.Errorf("kvssim: %w", err)
	}
	return src, nil
}

func fromWAV(r io.Reader, c Contact) (Source, error) {
	rd, err := wav.NewReader(r)
	if err != nil {
		return Source{}, fmt.Errorf("read WAV: %w", err)
	}
	f := rd.Format()
	if f.SampleRate != 8000 || f.BitsPerSample != 16 || (f.Channels != 1 && f.Channels != 2) {
		return Source{}, fmt.Errorf("WAV must be 8000 Hz 16-bit mono or stereo PCM, got %d Hz %d-bit %d channels", f.SampleRate, f.BitsPerSample, f.Channels)
	}
	data, err := io.ReadAll(rd)
	if err != nil {
		return Source{}, fmt.Errorf("read WAV data: %w", err)
	}
	if len(data)%f.BlockAlign() != 0 {
		return Source{}, fmt.Errorf("WAV data of %d bytes is not a whole number of %d-byte sample frames", len(data), f.BlockAlign())
	}
	if len(data) == 0 {
		return Source{}, errors.New("WAV holds no audio")
	}
	if f.Channels == 1 {
		return FromPCM(data, nil, c), nil
	}
	from := make([]byte, len(data)/2)
	to := make([]byte, len(data)/2)
	for i, j := 0, 0; i < len(data); i, j = i+4, j+2 {
		copy(from[j:j+2], data[i:i+2])
		copy(to[j:j+2], data[i+2:i+4])
	}
	return FromPCM(from, to, c), nil
}

// fragment is one stored KVS fragment.
type fragment struct {
	number   string
	producer time.Time
	server   time.Time
	duration time.Duration
	contact  string
	// errChunk marks an in-band error chunk of a capture: served by
	// GetMedia as captured, never listed.
	errChunk bool
	// raw is the captured span GetMedia serves (captures only).
	raw []byte
	// plain is the fragment without GetMedia's trailer tags, as
	// GetMediaForFragmentList serves it; its length is the fragment size.
	plain []byte
	// connect rebuilds a PCM fragment with a trailer for each GetMedia.
	connect *mkv.ConnectFragment
	// trailerAt is the offset of a capture's trailer tags in its data, or 0.
	trailerAt int64
}

// FragmentInfo describes a fragment of a stream.
type FragmentInfo struct {
	Number    string
	Producer  time.Time
	Server    time.Time
	Duration  time.Duration
	SizeBytes int64 // as ListFragments reports it: without GetMedia's trailer tags
	ContactID string
	// ErrorChunk marks an error chunk of a capture: GetMedia replays it,
	// ListFragments and GetMediaForFragmentList do not know it.
	ErrorChunk bool
}

func (f *fragment) info() FragmentInfo {
	return FragmentInfo{
		Number:     f.number,
		Producer:   f.producer,
		Server:     f.server,
		Duration:   f.duration,
		SizeBytes:  int64(len(f.plain)),
		ContactID:  f.contact,
		ErrorChunk: f.errChunk,
	}
}

func (f *fragment) end() time.Time { return f.producer.Add(f.duration) }

// buildFragments turns parts into fragments that follow prev (nil for an
// empty stream). index is the position of the first part on the stream.
func buildFragments(name string, prev *fragment, index int, parts []Source) ([]*fragment, error) {
	var out []*fragment
	for i, p := range parts {
		var (
			frags []*fragment
			err   error
		)
		if p.pcm {
			frags, err = pcmFragments(name, prev, index+i, p)
		} else {
			frags, err = captureFragments(p.capture, prev)
		}
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", index+i, err)
		}
		if len(frags) == 0 {
			return nil, fmt.Errorf("part %d: no fragments", index+i)
		}
		if prev != nil && mkv.CompareFragmentNumbers(frags[0].number, prev.number) <= 0 {
			return nil, fmt.Errorf("part %d: fragment number %s does not follow %s", index+i, frags[0].number, prev.number)
		}
		out = append(out, frags...)
		prev = frags[len(frags)-1]
	}
	return out, nil
}

// captureFragments indexes the fragments of a GetMedia byte stream. The
// spans cover the input without gaps, so that serving them in order
// reproduces it exactly.
func captureFragments(data []byte, prev *fragment) ([]*fragment, error) {
	type span struct {
		off   int64
		frag  *fragment
		known bool // producer time came from the fragment
	}
	var spans []span
	fr := mkv.NewFragmentReader(bytes.NewReader(data))
	for {
		f, err := fr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse capture: %w", err)
		}
		num := f.FragmentNumber()
		if !mkv.ValidFragmentNumber(num) {
			return nil, fmt.Errorf("capture fragment at offset %d has no valid fragment number (%q)", f.Offset, num)
		}
		fg := &fragment{number: num, duration: captureDuration(f)}
		if f.TrailerOffset > 0 {
			fg.trailerAt = f.TrailerOffset
		}
		_, _, fg.errChunk = f.ErrorChunk()
		fg.contact, _ = f.Tag(mkv.TagContactID)
		p, known := f.ProducerTime()
		fg.producer = p
		if s, ok := f.ServerTime(); ok {
			fg.server = s
		}
		spans = append(spans, span{off: f.Offset, frag: fg, known: known})
	}
	if len(spans) == 0 {
		return nil, errors.New("capture holds no fragment")
	}
	frags := make([]*fragment, len(spans))
	for i, s := range spans {
		start, end := s.off, int64(len(data))
		if i == 0 {
			start = 0
		}
		if i+1 < len(spans) {
			end = spans[i+1].off
		}
		f := s.frag
		f.raw = data[start:end:end]
		f.plain = f.raw
		if f.trailerAt > 0 {
			// GetMediaForFragmentList sends no trailer.
			f.plain = data[start:f.trailerAt:f.trailerAt]
		}
		if !s.known {
			// An error chunk carries no time: it stands where the previous
			// fragment ended.
			if prev != nil {
				f.producer = prev.end()
			} else {
				f.producer = DefaultStart()
			}
		}
		if f.server.IsZero() {
			f.server = f.producer
		}
		if prev != nil && mkv.CompareFragmentNumbers(f.number, prev.number) <= 0 && !f.errChunk && !prev.errChunk {
			return nil, fmt.Errorf("capture fragment %d: number %s does not follow %s", i, f.number, prev.number)
		}
		frags[i] = f
		prev = f
	}
	// Fragments without their own duration last until the next one starts.
	for i, f := range frags {
		if f.duration == 0 && i+1 < len(frags) {
			if d := frags[i+1].producer.Sub(f.producer); d > 0 {
				f.duration = d
			}
		}
	}
	return frags, nil
}

// captureDuration estimates the playing time of a captured fragment. For
// Connect audio it is the PCM of the longer track; otherwise the span of
// its block timecodes plus one block step, or zero when that is unknown.
func captureDuration(f *mkv.Fragment) time.Duration {
	if len(f.Blocks) == 0 {
		return 0
	}
	perTrack := map[uint64]int{}
	audio := true
	for _, t := range f.Tracks {
		if t.Name != mkv.TrackFromCustomer && t.Name != mkv.TrackToCustomer && t.Name != mkv.TrackLegacyL16 {
			audio = false
		}
	}
	if audio && len(f.Tracks) > 0 {
		longest := 0
		for _, b := range f.Blocks {
			perTrack[b.Track] += len(b.Data)
			longest = max(longest, perTrack[b.Track])
		}
		return time.Duration(int64(longest) * nsPerByte)
	}
	first, last := f.Blocks[0].Timecode, f.Blocks[0].Timecode
	steps := map[uint64][]int64{}
	for _, b := range f.Blocks {
		first, last = min(first, b.Timecode), max(last, b.Timecode)
		steps[b.Track] = append(steps[b.Track], b.Timecode)
	}
	var step int64
	for _, tcs := range steps {
		if len(tcs) > 1 {
			step = max(step, (tcs[len(tcs)-1]-tcs[0])/int64(len(tcs)-1))
		}
	}
	return time.Duration((last - first + step) * int64(f.TimecodeScale))
}

// uuidFrom derives a version-4-shaped UUID from seed.
func uuidFrom(seed string) string {
	s := sha256.Sum256([]byte(seed))
	s[6] = s[6]&0x0F | 0x40
	s[8] = s[8]&0x3F | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// pcmFragments cuts one contact's PCM into Connect fragments.
func pcmFragments(name string, prev *fragment, part int, src Source) ([]*fragment, error) {
	c := src.contact
	if c.Layout != mkv.LayoutCA && c.Layout != mkv.LayoutNN {
		return nil, fmt.Errorf("unknown layout %d", c.Layout)
	}
	if c.FragmentDuration == 0 {
		c.FragmentDuration = DefaultFragmentDuration
	}
	if c.FragmentDuration < time.Millisecond || c.FragmentDuration > maxFragmentDuration || c.FragmentDuration%time.Millisecond != 0 {
		return nil, fmt.Errorf("fragment duration %v must be a whole number of milliseconds from 1ms to %v", c.FragmentDuration, maxFragmentDuration)
	}
	if len(src.from)%2 != 0 || len(src.to)%2 != 0 {
		return nil, fmt.Errorf("PCM of %d and %d bytes is not whole 16-bit samples", len(src.from), len(src.to))
	}
	total := max(len(src.from), len(src.to))
	if total == 0 {
		return nil, errors.New("no audio")
	}
	if c.ContactID == "" {
		c.ContactID = uuidFrom(fmt.Sprintf("kvssim contact %s %d", name, part))
	}
	if c.InstanceID == "" {
		c.InstanceID = uuidFrom("kvssim")
	}
	start := c.Start.Truncate(time.Millisecond)
	switch {
	case c.Start.IsZero() && prev != nil:
		start = prev.end().Add(time.Millisecond - 1).Truncate(time.Millisecond)
	case c.Start.IsZero():
		start = DefaultStart()
	case prev != nil && start.Before(prev.end()):
		return nil, fmt.Errorf("start %s lies before the end of the stream's last fragment at %s", start.Format(time.RFC3339Nano), prev.end().Format(time.RFC3339Nano))
	}

	per := int(c.FragmentDuration/time.Millisecond) * bytesPerMS
	seq := mkv.NewSequence(start, fmt.Sprintf("%s/%d", name, part))
	if prev != nil {
		if err := seq.After(prev.number); err != nil {
			return nil, err
		}
	}
	tmpl := mkv.ConnectFragment{Layout: c.Layout, ContactID: c.ContactID, InstanceID: c.InstanceID, FromFirst: c.FromFirst}
	var out []*fragment
	for off, i := 0, 0; off < total; off, i = off+per, i+1 {
		from := src.from[min(off, len(src.from)):min(off+per, len(src.from))]
		to := src.to[min(off, len(src.to)):min(off+per, len(src.to))]
		cf := seq.Fragment(tmpl, from, to)
		plain, err := mkv.AppendConnectFragment(nil, &cf)
		if err != nil {
			return nil, fmt.Errorf("fragment %d: %w", i, err)
		}
		number, producer := cf.FragmentNumber, cf.Producer
		cf.From, cf.To = from, to
		out = append(out, &fragment{
			number:   number,
			producer: producer,
			server:   cf.Server,
			duration: time.Duration(int64(max(len(from), len(to))) * nsPerByte),
			contact:  c.ContactID,
			plain:    plain,
			connect:  &cf,
		})
	}
	return out, nil
}

// Sidecar is the optional <name>.json beside a <name>.wav in a directory
// loaded by LoadDir; `vmx synth` writes it.
type Sidecar struct {
	ContactID  string `json:"contact_id,omitempty"`
	InstanceID string `json:"instance_id,omitempty"`
	Layout     string `json:"layout,omitempty"` // "ca" (default) or "nn"
	Start      string `json:"start,omitempty"`  // RFC 3339
	FragmentMS int    `json:"fragment_ms,omitempty"`
	FromFirst  *bool  `json:"from_first,omitempty"` // default: true for nn, false for ca
}

// contactFromSidecar reads path into a Contact. A missing file gives the
// defaults: layout CA with AUDIO_TO_CUSTOMER first.
func contactFromSidecar(path string) (Contact, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Contact{}, nil
	}
	if err != nil {
		return Contact{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sc Sidecar
	if err := dec.Decode(&sc); err != nil {
		return Contact{}, fmt.Errorf("%s: %w", path, err)
	}
	c, err := sc.Contact()
	if err != nil {
		return Contact{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Contact converts the sidecar into the Contact of a PCM part.
func (sc Sidecar) Contact() (Contact, error) {
	c := Contact{
		ContactID:        sc.ContactID,
		InstanceID:       sc.InstanceID,
		FragmentDuration: time.Duration(sc.FragmentMS) * time.Millisecond,
	}
	switch strings.ToLower(sc.Layout) {
	case "", "ca":
		c.Layout = mkv.LayoutCA
	case "nn":
		c.Layout = mkv.LayoutNN
		// The NN dump has AUDIO_FROM_CUSTOMER as track 1.
		c.FromFirst = true
	default:
		return Contact{}, fmt.Errorf("layout %q: want \"ca\" or \"nn\"", sc.Layout)
	}
	if sc.FromFirst != nil {
		c.FromFirst = *sc.FromFirst
	}
	if sc.FragmentMS < 0 {
		return Contact{}, fmt.Errorf("fragment_ms %d must be positive", sc.FragmentMS)
	}
	if sc.Start != "" {
		t, err := time.Parse(time.RFC3339Nano, sc.Start)
		if err != nil {
			return Contact{}, fmt.Errorf("start: %w", err)
		}
		c.Start = t
	}
	return c, nil
}

// LoadDir adds a stream for every <name>.mkv (a GetMedia capture) and
// <name>.wav (one contact's audio, see FromWAV) in dir. A WAV may have a
// sidecar <name>.json:
//
//	{"contact_id": "…", "instance_id": "…", "layout": "ca"|"nn",
//	 "start": "2026-01-01T00:00:00Z", "fragment_ms": 1024, "from_first": false}
//
// Every field is optional: IDs are derived from the stream name, the layout
// is CA, start is DefaultStart(), fragments last 1,024 ms and from_first
// follows the layout (false for CA, true for NN, as in the real dumps).
// Files are loaded in name order; a name already in use is an error.
func (s *Server) LoadDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("kvssim: load streams: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	loaded := 0
	for _, file := range names {
		ext := filepath.Ext(file)
		name := strings.TrimSuffix(file, ext)
		path := filepath.Join(dir, file)
		var src Source
		switch strings.ToLower(ext) {
		case ".mkv":
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("kvssim: load %s: %w", path, err)
			}
			src = Source{capture: b}
		case ".wav":
			c, err := contactFromSidecar(filepath.Join(dir, name+".json"))
			if err != nil {
				return fmt.Errorf("kvssim: load %s: sidecar: %w", path, err)
			}
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("kvssim: load %s: %w", path, err)
			}
			src, err = fromWAV(f, c)
			f.Close()
			if err != nil {
				return fmt.Errorf("kvssim: load %s: %w", path, err)
			}
		default:
			continue
		}
		if err := s.addStream(name, []Source{src}); err != nil {
			return fmt.Errorf("kvssim: load %s: %w", path, err)
		}
		loaded++
	}
	s.log.Info("streams loaded", "dir", dir, "streams", loaded)
	return nil
}
