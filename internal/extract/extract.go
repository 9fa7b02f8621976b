// Package extract selects one Amazon Connect contact's audio from a sequence
// of KVS fragments and writes each track as 8 kHz mono s16le PCM.
//
// Fragments are decided whole: a fragment is kept when its ContactId tag
// names the contact (or it has none) and its fragment number and time lie in
// the requested range. Blocks are routed to tracks by TrackEntry Name, never by
// track number, so the caller's and the agent's audio are never mixed.
package extract

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/mkv"
)

// ErrNoAudio is returned when no fragment matched the selection.
var ErrNoAudio = errors.New("extract: no fragment matched")

// Source yields fragments in stream order; *mkv.FragmentReader and the KVS
// client's readers implement it. A fragment is valid until the next call.
type Source interface {
	Next() (*mkv.Fragment, error)
}

// Options select the audio to extract. Zero values select everything.
type Options struct {
	ContactID     string
	StartFragment string // inclusive, decimal
	StopFragment  string // inclusive, decimal
	// StartTime and StopTime bound a fragment's start by its server
	// timestamp (its producer timestamp when it has none), as ListFragments
	// selects fragments.
	StartTime, StopTime time.Time
	// FillGaps writes silence where producer time jumps between kept
	// fragments, keeping both tracks and the stereo output aligned with the
	// call's timeline.
	FillGaps bool
	// GapThreshold is the smallest jump reported as a gap; 0 means 250 ms.
	GapThreshold time.Duration
	// StopAfterContact ends the extraction at the first fragment past the
	// selection once something was kept: another contact on a reused stream,
	// or a fragment number past StopFragment. Live reads need this; files and
	// bounded reads end by themselves.
	StopAfterContact bool
	// Hash computes the SHA-256 of each output's PCM for the report.
	Hash   bool
	Logger *slog.Logger
}

// Outputs receive the PCM of each track; nil outputs are not produced.
type Outputs struct {
	From   io.Writer // AUDIO_FROM_CUSTOMER: the caller
	To     io.Writer // AUDIO_TO_CUSTOMER: prompts and agent
	Stereo io.Writer // interleaved: From left, To right
}

// Report says what an extraction saw and wrote.
type Report struct {
	ContactID           string                  `json:"contact_id,omitempty"`
	FragmentsSeen       int                     `json:"fragments_seen"`
	FragmentsKept       int                     `json:"fragments_kept"`
	SkippedOtherContact int                     `json:"skipped_other_contact"`
	SkippedOutOfRange   int                     `json:"skipped_out_of_range"`
	ErrorChunks         []ErrorChunk            `json:"error_chunks"`
	Gaps                []Gap                   `json:"gaps"`
	TruncatedFragments  []string                `json:"truncated_fragments"`
	FirstFragment       string                  `json:"first_fragment,omitempty"`
	LastFragment        string                  `json:"last_fragment,omitempty"`
	StartTime           *time.Time              `json:"start_time,omitempty"` // producer time of the first kept fragment
	TracksSeen          []TrackSeen             `json:"tracks_seen"`
	Tracks              map[string]*TrackReport `json:"tracks"`
	Warnings            []string                `json:"warnings"`
}

// ErrorChunk is an in-band error KVS sent instead of a fragment.
type ErrorChunk struct {
	FragmentNumber string `json:"fragment_number,omitempty"`
	Code           string `json:"code"`
	Detail         string `json:"detail,omitempty"`
}

// Gap is a jump in producer time between two kept fragments.
type Gap struct {
	AfterFragment  string    `json:"after_fragment"`
	BeforeFragment string    `json:"before_fragment"`
	At             time.Time `json:"at"`
	DurationMS     int64     `json:"duration_ms"`
	Filled         bool      `json:"filled"`
}

// TrackSeen is a distinct track found in the stream.
type TrackSeen struct {
	Number  uint64 `json:"number"`
	Name    string `json:"name"`
	CodecID string `json:"codec_id"`
	Type    uint64 `json:"type"`
	Used    string `json:"used_as,omitempty"` // "from", "to" or empty when ignored
}

// TrackReport describes the PCM written to one output.
type TrackReport struct {
	Bytes      int64  `json:"bytes"`
	DurationMS int64  `json:"duration_ms"`
	SHA256     string `json:"sha256,omitempty"`
	channels   int
	hash       hash.Hash // nil unless Options.Hash
	w          io.Writer
}

func (t *TrackReport) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if t.hash != nil {
		t.hash.Write(p[:n])
	}
	t.Bytes += int64(n)
	return n, err
}

// Connect audio is 8 kHz mono s16le whatever CodecID says: 16 bytes a ms.
const bytesPerMS = 16

// Track roles.
const (
	roleNone = iota
	roleFrom
	roleTo
)

func roleOf(name string) int {
	switch name {
	case mkv.TrackFromCustomer, mkv.TrackLegacyL16:
		return roleFrom
	case mkv.TrackToCustomer:
		return roleTo
	}
	return roleNone
}

func roleName(role int) string {
	switch role {
	case roleFrom:
		return "from"
	case roleTo:
		return "to"
	}
	return ""
}

type extractor struct {
	opts   Options
	rep    *Report
	out    [3]*TrackReport // indexed by role; out[0] is stereo
	seen   map[TrackSeen]bool
	warned map[string]bool

	prevEnd    time.Time // producer time where the last kept fragment ends
	prevNumber string
	scratch    [3][]byte // per-fragment From, To and interleaved stereo PCM
}

// Run reads src until it ends and writes the selected audio to out.
func Run(ctx context.Context, src Source, opts Options, out Outputs) (*Report, error) {
	if opts.GapThreshold == 0 {
		opts.GapThreshold = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	x := &extractor{
		opts: opts,
		rep: &Report{
			ContactID:          opts.ContactID,
			ErrorChunks:        []ErrorChunk{},
			Gaps:               []Gap{},
			TruncatedFragments: []string{},
			TracksSeen:         []TrackSeen{},
			Tracks:             map[string]*TrackReport{},
			Warnings:           []string{},
		},
		seen:   map[TrackSeen]bool{},
		warned: map[string]bool{},
	}
	for i, o := range []struct {
		name     string
		w        io.Writer
		channels int
	}{{"stereo", out.Stereo, 2}, {"from", out.From, 1}, {"to", out.To, 1}} {
		if o.w != nil {
			t := &TrackReport{w: o.w, channels: o.channels}
			if opts.Hash {
				t.hash = sha256.New()
			}
			x.out[i] = t
			x.rep.Tracks[o.name] = t
		}
	}
	err := x.run(ctx, src)
	for _, t := range x.rep.Tracks {
		if t.hash != nil {
			t.SHA256 = hex.EncodeToString(t.hash.Sum(nil))
		}
		t.DurationMS = t.Bytes / int64(bytesPerMS*t.channels)
	}
	if err == nil {
		err = x.noAudio()
	}
	return x.rep, err
}

// Validate reports a selection that cannot match: a malformed fragment
// number, or a range whose start is after its stop.
func (o Options) Validate() error {
	for _, n := range []string{o.StartFragment, o.StopFragment} {
		if n != "" && !mkv.ValidFragmentNumber(n) {
			return fmt.Errorf("extract: fragment number %q is not 1 to 128 decimal digits", n)
		}
	}
	if o.StartFragment != "" && o.StopFragment != "" && mkv.CompareFragmentNumbers(o.StartFragment, o.StopFragment) > 0 {
		return fmt.Errorf("extract: start fragment %s is after stop fragment %s", o.StartFragment, o.StopFragment)
	}
	if !o.StartTime.IsZero() && !o.StopTime.IsZero() && o.StartTime.After(o.StopTime) {
		return fmt.Errorf("extract: start time %s is after stop time %s", o.StartTime.Format(time.RFC3339Nano), o.StopTime.Format(time.RFC3339Nano))
	}
	return nil
}

// noAudio explains an extraction that found nothing to write.
func (x *extractor) noAudio() error {
	r := x.rep
	audio := false
	for _, t := range r.TracksSeen {
		audio = audio || t.Used != ""
	}
	switch {
	case r.FragmentsKept > 0 && audio:
		return nil
	case r.FragmentsKept > 0 && len(r.TracksSeen) == 0:
		return fmt.Errorf("%w: %s kept but none has a track", ErrNoAudio, fragments(r.FragmentsKept))
	case r.FragmentsKept > 0:
		var names []string
		for _, t := range r.TracksSeen {
			names = append(names, fmt.Sprintf("%d %q %s", t.Number, t.Name, t.CodecID))
		}
		return fmt.Errorf("%w: %s kept but none has an AUDIO_FROM_CUSTOMER or AUDIO_TO_CUSTOMER track (tracks: %s)", ErrNoAudio, fragments(r.FragmentsKept), strings.Join(names, ", "))
	case r.FragmentsSeen == 0:
		return fmt.Errorf("%w: the input holds no fragment", ErrNoAudio)
	case r.SkippedOtherContact == r.FragmentsSeen-len(r.ErrorChunks) && r.SkippedOtherContact > 0:
		return fmt.Errorf("%w: all %d fragments belong to other contacts than %s", ErrNoAudio, r.SkippedOtherContact, x.opts.ContactID)
	}
	return fmt.Errorf("%w: %d fragments seen, %d of other contacts, %d out of range, %d error chunks",
		ErrNoAudio, r.FragmentsSeen, r.SkippedOtherContact, r.SkippedOutOfRange, len(r.ErrorChunks))
}

// fragments counts fragments in words: "1 fragment", "2 fragments".
func fragments(n int) string {
	if n == 1 {
		return "1 fragment"
	}
	return fmt.Sprintf("%d fragments", n)
}

func (x *extractor) run(ctx context.Context, src Source) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		f, err := src.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		x.rep.FragmentsSeen++
		if code, detail, isErr := f.ErrorChunk(); isErr {
			x.rep.ErrorChunks = append(x.rep.ErrorChunks, ErrorChunk{FragmentNumber: f.FragmentNumber(), Code: code, Detail: detail})
			x.opts.Logger.Warn("kvs error chunk", "contact_id", x.opts.ContactID, "fragment", f.FragmentNumber(), "code", code, "detail", detail)
			continue
		}
		keep, stop := x.decide(f)
		if stop {
			return nil
		}
		if keep {
			if err := x.keep(f); err != nil {
				return err
			}
		}
	}
}

// decide keeps or skips a whole fragment, and says when a live read has
// moved past the selection.
func (x *extractor) decide(f *mkv.Fragment) (keep, stop bool) {
	o := &x.opts
	pastSelection := x.rep.FragmentsKept > 0 && o.StopAfterContact
	if contact, ok := f.Tag(mkv.TagContactID); ok && o.ContactID != "" && contact != o.ContactID {
		x.rep.SkippedOtherContact++
		return false, pastSelection
	}
	num := f.FragmentNumber()
	if num != "" {
		if o.StartFragment != "" && mkv.CompareFragmentNumbers(num, o.StartFragment) < 0 {
			x.rep.SkippedOutOfRange++
			return false, false
		}
		if o.StopFragment != "" && mkv.CompareFragmentNumbers(num, o.StopFragment) > 0 {
			x.rep.SkippedOutOfRange++
			return false, pastSelection
		}
	}
	if !o.StartTime.IsZero() || !o.StopTime.IsZero() {
		t, ok := f.ServerTime()
		if !ok {
			t, ok = f.ProducerTime()
		}
		if ok && (t.Before(o.StartTime) || (!o.StopTime.IsZero() && t.After(o.StopTime))) {
			x.rep.SkippedOutOfRange++
			return false, pastSelection && !o.StopTime.IsZero() && t.After(o.StopTime)
		}
	}
	return true, false
}

func (x *extractor) keep(f *mkv.Fragment) error {
	r := x.rep
	num := f.FragmentNumber()
	r.FragmentsKept++
	if r.FirstFragment == "" {
		r.FirstFragment = num
	}
	r.LastFragment = num
	if f.Truncated {
		r.TruncatedFragments = append(r.TruncatedFragments, num)
		x.warn(fmt.Sprintf("fragment %s is truncated: only its %d complete blocks are kept", num, len(f.Blocks)))
	}
	if mt, ok := f.Tag(mkv.TagMimeType); ok && !strings.HasPrefix(mt, "audio/L16;rate=8000;channels=1") {
		x.warn(fmt.Sprintf("fragment %s declares MimeType %q; its audio is read as 8 kHz mono s16le", num, mt))
	}

	var roles [8]int // by track number; numbers beyond are ignored with a warning
	for _, t := range f.Tracks {
		role := roleOf(t.Name)
		seen := TrackSeen{Number: t.Number, Name: t.Name, CodecID: t.CodecID, Type: t.Type, Used: roleName(role)}
		if !x.seen[seen] {
			x.seen[seen] = true
			r.TracksSeen = append(r.TracksSeen, seen)
		}
		if t.Number < uint64(len(roles)) {
			roles[t.Number] = role
		} else if role != roleNone {
			x.warn(fmt.Sprintf("track number %d of %s is out of range; ignored", t.Number, t.Name))
		}
	}

	stereo := x.out[0] != nil
	for i := range x.scratch {
		x.scratch[i] = x.scratch[i][:0]
	}
	var bytes [3]int
	for _, b := range f.Blocks {
		if b.Track >= uint64(len(roles)) || roles[b.Track] == roleNone {
			continue
		}
		role := roles[b.Track]
		bytes[role] += len(b.Data)
		if stereo {
			x.scratch[role] = append(x.scratch[role], b.Data...)
		}
	}
	if pt, ok := f.ProducerTime(); ok && bytes[roleFrom]+bytes[roleTo] > 0 {
		if err := x.gap(num, pt); err != nil {
			return err
		}
		x.prevEnd = pt.Add(time.Duration(max(bytes[roleFrom], bytes[roleTo])/bytesPerMS) * time.Millisecond)
	}
	x.prevNumber = num

	for role := roleFrom; role <= roleTo; role++ {
		out := x.out[role]
		if out == nil {
			continue
		}
		for _, b := range f.Blocks {
			if b.Track < uint64(len(roles)) && roles[b.Track] == role {
				if _, err := out.Write(b.Data); err != nil {
					return fmt.Errorf("extract: write %s track: %w", roleName(role), err)
				}
			}
		}
	}
	if stereo {
		x.scratch[0] = interleave(x.scratch[0], x.scratch[roleFrom], x.scratch[roleTo])
		if _, err := x.out[0].Write(x.scratch[0]); err != nil {
			return fmt.Errorf("extract: write stereo: %w", err)
		}
	}
	return nil
}

// gap records a jump in producer time before the fragment starting at pt
// and, with FillGaps, writes its silence.
func (x *extractor) gap(num string, pt time.Time) error {
	if x.prevEnd.IsZero() {
		t := pt
		x.rep.StartTime = &t
		return nil
	}
	d := pt.Sub(x.prevEnd)
	if d < x.opts.GapThreshold {
		return nil
	}
	ms := d.Milliseconds()
	x.rep.Gaps = append(x.rep.Gaps, Gap{AfterFragment: x.prevNumber, BeforeFragment: num, At: x.prevEnd.UTC(), DurationMS: ms, Filled: x.opts.FillGaps})
	x.opts.Logger.Warn("gap in producer time", "contact_id", x.opts.ContactID, "after_fragment", x.prevNumber, "duration_ms", ms)
	if !x.opts.FillGaps {
		return nil
	}
	silence := make([]byte, 4096)
	for i, out := range x.out {
		if out == nil {
			continue
		}
		n := ms * bytesPerMS * int64(out.channels)
		for n > 0 {
			k := min(n, int64(len(silence)))
			if _, err := out.Write(silence[:k]); err != nil {
				return fmt.Errorf("extract: fill gap on output %d: %w", i, err)
			}
			n -= k
		}
	}
	return nil
}

// interleave writes from as the left and to as the right channel; the
// shorter track is padded with silence so both stay aligned.
func interleave(dst, from, to []byte) []byte {
	n := max(len(from), len(to)) / 2
	dst = slices.Grow(dst[:0], 4*n)[:4*n]
	both := min(len(from), len(to)) / 2
	for i := range both {
		l := uint32(binary.LittleEndian.Uint16(from[2*i:]))
		r := uint32(binary.LittleEndian.Uint16(to[2*i:]))
		binary.LittleEndian.PutUint32(dst[4*i:], l|r<<16)
	}
	for i := both; i < n; i++ {
		var l, r uint32
		if 2*i+2 <= len(from) {
			l = uint32(binary.LittleEndian.Uint16(from[2*i:]))
		}
		if 2*i+2 <= len(to) {
			r = uint32(binary.LittleEndian.Uint16(to[2*i:]))
		}
		binary.LittleEndian.PutUint32(dst[4*i:], l|r<<16)
	}
	return dst
}

func (x *extractor) warn(msg string) {
	if x.warned[msg] {
		return
	}
	x.warned[msg] = true
	x.rep.Warnings = append(x.rep.Warnings, msg)
	x.opts.Logger.Warn(msg, "contact_id", x.opts.ContactID)
}
