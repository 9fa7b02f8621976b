package mkv

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Layout is one of the two byte layouts seen in real Connect fragments.
type Layout int

const (
	// LayoutCA: the Connect tags stand before the AWS fragment tags and again
	// after the Cluster (the citizensadvice dump).
	LayoutCA Layout = iota
	// LayoutNN: the Connect tags stand only after the Cluster, with an extra
	// Events tag (the Neudeck dump).
	LayoutNN
)

// Track names Amazon Connect gives its two audio tracks.
const (
	TrackFromCustomer = "AUDIO_FROM_CUSTOMER"
	TrackToCustomer   = "AUDIO_TO_CUSTOMER"
	// TrackLegacyL16 is the single track of older streams; it carries what
	// the customer says.
	TrackLegacyL16 = "Track_audio/L16"
)

// ConnectFragment describes one fragment as Amazon Connect writes it.
type ConnectFragment struct {
	Layout         Layout
	ContactID      string
	InstanceID     string
	FragmentNumber string
	Producer       time.Time // cluster timecode and PRODUCER_TIMESTAMP
	Server         time.Time // SERVER_TIMESTAMP
	SegmentUID     [16]byte
	// FromFirst makes AUDIO_FROM_CUSTOMER track number 1; otherwise
	// AUDIO_TO_CUSTOMER is track 1. Connect has been seen doing both.
	FromFirst bool
	From, To  []byte // 8 kHz mono s16le PCM of each track
	// BlockBytes is the PCM bytes per SimpleBlock; 0 means 1024 (64 ms).
	BlockBytes int
	// Trailer holds the tags GetMedia appends after each fragment;
	// GetMediaForFragmentList sends none.
	Trailer *Trailer
}

// Trailer is the MILLIS_BEHIND_NOW and CONTINUATION_TOKEN tag pair.
type Trailer struct {
	MillisBehindNow   int64
	ContinuationToken string
}

const muxingApp = "Kinesis Video SDK 1.1.0 JNI 2.0"

// codecPrivate is the 2-byte AAC AudioSpecificConfig Connect declares
// although the payload is PCM.
var codecPrivate = []byte{0x11, 0x90}

// AppendConnectFragment appends f in Connect's byte layout to dst: EBML
// header, unknown-size Segment, Info, Tracks, tags and one unknown-size
// Cluster, with the size-field widths Connect uses.
func AppendConnectFragment(dst []byte, f *ConnectFragment) ([]byte, error) {
	if !ValidFragmentNumber(f.FragmentNumber) {
		return dst, fmt.Errorf("mkv: invalid fragment number %q", f.FragmentNumber)
	}
	block := f.BlockBytes
	if block == 0 {
		block = 1024
	}
	if block <= 0 || block%2 != 0 {
		return dst, fmt.Errorf("mkv: block size %d must be a positive even number", block)
	}
	dst = appendEBMLHeader(dst)
	dst = appendUnknownSegment(dst)

	var info []byte
	info = appendElem(info, idSegmentUID, 1, f.SegmentUID[:])
	info = appendElem(info, idTimecodeScale, 1, be64(1_000_000))
	info = appendElem(info, idTitle, 1, []byte("Kinesis Video SDK"))
	info = appendElem(info, idMuxingApp, 1, []byte(muxingApp))
	info = appendElem(info, idWritingApp, 1, []byte(muxingApp))
	dst = appendElem(dst, idInfo, 2, info)

	first, second := TrackToCustomer, TrackFromCustomer
	if f.FromFirst {
		first, second = second, first
	}
	var tracks []byte
	tracks = appendTrackEntry(tracks, 1, first)
	tracks = appendTrackEntry(tracks, 2, second)
	dst = appendElem(dst, idTracks, 4, tracks)

	connectTags := []Tag{
		{TagContactID, f.ContactID},
		{TagInstanceID, f.InstanceID},
		{TagMimeType, "audio/L16;rate=8000;channels=1;"},
		{TrackToCustomer, "2"},
		{TrackFromCustomer, "1"},
	}
	if f.Layout == LayoutNN {
		connectTags[3], connectTags[4] = connectTags[4], connectTags[3]
		connectTags = append(connectTags, Tag{"Events", "[]"})
	} else {
		dst = appendTagsEach(dst, connectTags)
	}
	dst = appendTagGroup(dst, []Tag{
		{TagFragmentNumber, f.FragmentNumber},
		{TagServerTimestamp, FormatKVSTime(f.Server)},
		{TagProducerTimestamp, FormatKVSTime(f.Producer)},
	})

	// Cluster of unknown size: Timecode, Position, then the blocks of both
	// tracks interleaved every block duration.
	dst = appendID(dst, idCluster)
	dst = append(dst, 0xFF)
	dst = appendElem(dst, idTimecode, 1, be64(uint64(f.Producer.UnixMilli())))
	dst = appendElem(dst, idPosition, 1, []byte{0})
	pcm := [2][]byte{f.To, f.From}
	if f.FromFirst {
		pcm[0], pcm[1] = pcm[1], pcm[0]
	}
	for off := 0; off < len(pcm[0]) || off < len(pcm[1]); off += block {
		// 8 samples per ms at 8 kHz, two bytes per sample.
		rel := off / 16
		if rel > 32767 {
			return dst, fmt.Errorf("mkv: fragment longer than a SimpleBlock timecode can address")
		}
		for t := 0; t < 2; t++ {
			if off >= len(pcm[t]) {
				continue
			}
			payload := pcm[t][off:min(off+block, len(pcm[t]))]
			dst = appendID(dst, idSimpleBlock)
			dst = appendSize(dst, 8, uint64(4+len(payload)))
			dst = append(dst, 0x81+byte(t), byte(rel>>8), byte(rel), 0x80)
			dst = append(dst, payload...)
		}
	}

	dst = appendTagsEach(dst, connectTags)
	if f.Trailer != nil {
		dst = appendTagGroup(dst, []Tag{
			{TagMillisBehindNow, strconv.FormatInt(f.Trailer.MillisBehindNow, 10)},
			{TagContinuationToken, f.Trailer.ContinuationToken},
		})
	}
	return dst, nil
}

// WriteConnectFragment writes f to w in one call; see AppendConnectFragment.
func WriteConnectFragment(w io.Writer, f *ConnectFragment) error {
	b, err := AppendConnectFragment(nil, f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// AppendErrorChunk appends the in-band error chunk KVS sends for a fragment
// it cannot serve: an EBML header and a Segment holding only tags.
func AppendErrorChunk(dst []byte, fragmentNumber, code, id string) []byte {
	dst = appendEBMLHeader(dst)
	dst = appendUnknownSegment(dst)
	return appendTagGroup(dst, []Tag{
		{TagFragmentNumber, fragmentNumber},
		{TagErrorCode, code},
		{TagErrorID, id},
	})
}

// FormatKVSTime formats t as KVS timestamp tags do: seconds with three
// decimals.
func FormatKVSTime(t time.Time) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}

func appendEBMLHeader(dst []byte) []byte {
	var h []byte
	h = appendElem(h, idEBMLVersion, 1, []byte{1})
	h = appendElem(h, idEBMLReadVersion, 1, []byte{1})
	h = appendElem(h, idEBMLMaxIDLength, 1, []byte{4})
	h = appendElem(h, idEBMLMaxSizeLength, 1, []byte{8})
	h = appendElem(h, idDocType, 1, []byte("matroska"))
	h = appendElem(h, idDocTypeVersion, 1, []byte{2})
	h = appendElem(h, idDocTypeReadVersion, 1, []byte{2})
	return appendElem(dst, idEBML, 1, h)
}

func appendUnknownSegment(dst []byte) []byte {
	dst = appendID(dst, idSegment)
	return append(dst, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
}

func appendTrackEntry(dst []byte, number byte, name string) []byte {
	uid := uint64(2)
	if name == TrackFromCustomer {
		uid = 1
	}
	var e []byte
	e = appendElem(e, idTrackNumber, 1, []byte{number})
	e = appendElem(e, idTrackUID, 1, be64(uid))
	e = appendElem(e, idTrackType, 1, []byte{2})
	e = appendElem(e, idName, 1, []byte(name))
	e = appendElem(e, idCodecID, 1, []byte("A_AAC"))
	e = appendElem(e, idCodecPrivate, 1, codecPrivate)
	return appendElem(dst, idTrackEntry, 4, e)
}

// appendTagsEach writes each tag in a Tags element of its own with 8-byte
// size fields, as Connect writes its own tags.
func appendTagsEach(dst []byte, tags []Tag) []byte {
	for _, t := range tags {
		st := appendElem(nil, idTagName, 8, []byte(t.Name))
		st = appendElem(st, idTagString, 8, []byte(t.Value))
		tag := appendElem(nil, idSimpleTag, 8, st)
		tags := appendElem(nil, idTag, 8, tag)
		dst = appendElem(dst, idTags, 8, tags)
	}
	return dst
}

// appendTagGroup writes tags as SimpleTags of one Tag with 4-byte size
// fields, as KVS writes its AWS_KINESISVIDEO_* tags.
func appendTagGroup(dst []byte, tags []Tag) []byte {
	var tag []byte
	for _, t := range tags {
		st := appendElem(nil, idTagName, 4, []byte(t.Name))
		st = appendElem(st, idTagString, 4, []byte(t.Value))
		tag = appendElem(tag, idSimpleTag, 4, st)
	}
	return appendElem(dst, idTags, 4, appendElem(nil, idTag, 4, tag))
}

func appendElem(dst []byte, id uint32, sizeLen int, body []byte) []byte {
	dst = appendID(dst, id)
	dst = appendSize(dst, sizeLen, uint64(len(body)))
	return append(dst, body...)
}

func appendID(dst []byte, id uint32) []byte {
	switch {
	case id > 0xFFFFFF:
		return append(dst, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	case id > 0xFFFF:
		return append(dst, byte(id>>16), byte(id>>8), byte(id))
	case id > 0xFF:
		return append(dst, byte(id>>8), byte(id))
	}
	return append(dst, byte(id))
}

// appendSize writes v as a size vint of exactly n bytes, the width the
// producer chose, not the minimal one.
func appendSize(dst []byte, n int, v uint64) []byte {
	v |= 1 << (7 * n)
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
