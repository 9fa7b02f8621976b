package mkv

import (
	"errors"
	"fmt"
	"io"
)

// Limits that guard declared sizes, so corrupt input never causes a large
// allocation.
const (
	// DefaultMaxFragmentBytes bounds the block data held for one fragment.
	// KVS fragments are at most 50 MB.
	DefaultMaxFragmentBytes = 64 << 20
	maxStringBytes          = 64 << 10
	maxHeaderBytes          = 4 << 10 // EBML header body
	maxDepth                = 32
	maxInterned             = 256
	maxFragmentStrings      = 16
	readChunk               = 64 << 10
)

const unknownSize = -1

type master struct {
	id  uint32
	end int64 // stream offset where the body ends, or unknownSize
	idx int   // index of the Track or Tag this master fills, or -1
}

// FragmentReader reads KVS fragments from a GetMedia or
// GetMediaForFragmentList byte stream.
type FragmentReader struct {
	src    io.Reader
	srcErr error // sticky error of src, io.EOF included

	buf  []byte // read window; unread bytes are buf[r:w]
	r, w int
	base int64 // stream offset of buf[0]

	// MaxFragmentBytes bounds the block data of one fragment; larger
	// fragments are a *SyntaxError wrapping ErrTooLarge.
	MaxFragmentBytes int

	frag       Fragment
	arena      []byte // block data of the current fragment
	stack      []master
	open       bool // a fragment has begun
	hasSegment bool
	clusterTC  uint64
	tagsAt     int64 // offset of the innermost Tags element
	done       error // returned by the next call: io.EOF or a sticky error

	interned map[string]string
	// fragmentStrings are the current fragment's strings that the interned
	// map did not take: GetMedia's continuation token repeats the fragment
	// number, and reusing it saves a third of the garbage per fragment.
	fragmentStrings []string
}

// NewFragmentReader returns a reader of the fragments in src.
func NewFragmentReader(src io.Reader) *FragmentReader {
	return &FragmentReader{
		src:              src,
		buf:              make([]byte, readChunk),
		MaxFragmentBytes: DefaultMaxFragmentBytes,
		interned:         make(map[string]string),
	}
}

// Offset returns the stream offset of the next unread byte.
func (fr *FragmentReader) Offset() int64 { return fr.base + int64(fr.r) }

// Next returns the next fragment, io.EOF after the last one, or a
// *SyntaxError. The fragment and the Data of its blocks are valid until the
// next call. After an error, every later call returns the same error.
func (fr *FragmentReader) Next() (*Fragment, error) {
	if fr.done != nil {
		return nil, fr.done
	}
	f, err := fr.next()
	if err != nil {
		fr.done = err
		return nil, err
	}
	return f, nil
}

func (fr *FragmentReader) next() (*Fragment, error) {
	for {
		off := fr.Offset()
		if f := fr.closeEnded(off); f != nil {
			return f, nil
		}
		id, size, hlen, err := fr.peekHeader()
		switch {
		case err == io.EOF:
			if !fr.open {
				return nil, io.EOF
			}
			return fr.finish(fr.endedInside()), nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			if !fr.open {
				return nil, &SyntaxError{Offset: off, Err: io.ErrUnexpectedEOF}
			}
			return fr.finishAtEOF(), nil
		case err != nil:
			return nil, err
		}

		switch id {
		case idEBML:
			if fr.open {
				return fr.finish(fr.knownSizeOpen()), nil
			}
			if err := fr.readEBMLHeader(off, size, hlen); err != nil {
				return nil, err
			}
			continue
		case idSegment:
			if fr.open && fr.hasSegment {
				// A Segment without its own EBML header still starts a new fragment.
				return fr.finish(fr.knownSizeOpen()), nil
			}
			if !fr.open {
				fr.begin(off)
			}
			fr.hasSegment = true
			fr.consume(hlen)
			if err := fr.push(off, idSegment, size, hlen); err != nil {
				return nil, err
			}
			continue
		}

		if !fr.open || len(fr.stack) == 0 {
			if isGlobal(id) && size != unknownSize {
				if truncated, err := fr.skip(hlen + int(size)); err != nil || truncated {
					return fr.afterTruncation(off, id, err)
				}
				continue
			}
			return nil, syntaxErrorf(off, id, "expected an EBML header or Segment")
		}

		// An unknown-size master ends where an element that cannot be its
		// child begins.
		for len(fr.stack) > 0 {
			top := fr.stack[len(fr.stack)-1]
			if top.end != unknownSize || validChild(top.id, id) {
				break
			}
			if f := fr.pop(); f != nil {
				return f, nil
			}
		}
		if len(fr.stack) == 0 {
			return nil, syntaxErrorf(off, id, "element outside the Segment")
		}
		top := fr.stack[len(fr.stack)-1]

		info, known := lookup(id)
		kind := info.kind
		if !known || (!validChild(top.id, id)) {
			kind = kindSkip
		}
		if size == unknownSize {
			if kind != kindMaster {
				return nil, syntaxErrorf(off, id, "unknown size is allowed only for master elements")
			}
		} else if top.end != unknownSize && off+int64(hlen)+size > top.end {
			return nil, syntaxErrorf(off, id, "size %d extends past the end of its parent %s at offset %d", size, elementName(top.id), top.end)
		}

		switch kind {
		case kindMaster:
			fr.consume(hlen)
			if err := fr.push(off, id, size, hlen); err != nil {
				return nil, err
			}
		case kindUint:
			v, truncated, err := fr.readUint(off, id, size, hlen)
			if err != nil || truncated {
				return fr.afterTruncation(off, id, err)
			}
			fr.setUint(id, top, v)
		case kindString:
			s, truncated, err := fr.readString(off, id, size, hlen)
			if err != nil || truncated {
				return fr.afterTruncation(off, id, err)
			}
			fr.setString(id, top, s)
		case kindBlock:
			truncated, err := fr.readBlock(off, id, size, hlen)
			if err != nil || truncated {
				return fr.afterTruncation(off, id, err)
			}
		default:
			if truncated, err := fr.skip(hlen + int(size)); err != nil || truncated {
				return fr.afterTruncation(off, id, err)
			}
		}
	}
}

// afterTruncation ends the current fragment when the input ended inside an
// element, or passes a real error on.
func (fr *FragmentReader) afterTruncation(off int64, id uint32, err error) (*Fragment, error) {
	if err != nil {
		return nil, err
	}
	if !fr.open {
		return nil, &SyntaxError{Offset: off, ID: id, Err: io.ErrUnexpectedEOF}
	}
	return fr.finishAtEOF(), nil
}

// finishAtEOF ends a fragment cut by the end of input: the partial element
// is dropped but counted in the fragment's size.
func (fr *FragmentReader) finishAtEOF() *Fragment {
	fr.r = fr.w
	fr.done = io.EOF
	return fr.finish(true)
}

func (fr *FragmentReader) begin(off int64) {
	fr.frag.reset(off)
	fr.arena = fr.arena[:0]
	fr.fragmentStrings = fr.fragmentStrings[:0]
	fr.stack = fr.stack[:0]
	fr.open = true
	fr.hasSegment = false
	fr.clusterTC = 0
}

// finish completes the current fragment: it materialises block data slices
// and closes the fragment.
func (fr *FragmentReader) finish(truncated bool) *Fragment {
	f := &fr.frag
	f.Truncated = f.Truncated || truncated
	f.Size = fr.Offset() - f.Offset
	for i := range f.Blocks {
		b := &f.Blocks[i]
		b.Data = fr.arena[b.off : b.off+b.n : b.off+b.n]
	}
	fr.open = false
	fr.stack = fr.stack[:0]
	return f
}

// endedInside reports whether the input ended inside an element other than
// the Segment (whose end is the end of input in GetMedia streams).
func (fr *FragmentReader) endedInside() bool {
	for _, m := range fr.stack {
		if m.id != idSegment || m.end != unknownSize {
			return true
		}
	}
	return false
}

func (fr *FragmentReader) knownSizeOpen() bool {
	for _, m := range fr.stack {
		if m.end != unknownSize {
			return true
		}
	}
	return false
}

// closeEnded pops known-size masters whose body ends at off. It returns the
// fragment when that closes its Segment.
func (fr *FragmentReader) closeEnded(off int64) *Fragment {
	for len(fr.stack) > 0 {
		top := fr.stack[len(fr.stack)-1]
		if top.end == unknownSize || off < top.end {
			return nil
		}
		if f := fr.pop(); f != nil {
			return f
		}
	}
	return nil
}

// pop closes the innermost master; closing the Segment finishes the
// fragment, and so does closing GetMedia's trailing MILLIS_BEHIND_NOW and
// CONTINUATION_TOKEN tags, which end a fragment's unknown-size Segment: a
// live reader then has the fragment as soon as its last byte arrives,
// rather than when the next fragment begins, up to a fragment later.
func (fr *FragmentReader) pop() *Fragment {
	top := fr.stack[len(fr.stack)-1]
	fr.stack = fr.stack[:len(fr.stack)-1]
	switch {
	case top.id == idSegment:
		return fr.finish(false)
	case top.id == idTags && fr.trailerRead():
		return fr.finish(false)
	}
	return nil
}

// trailerRead reports whether the Tags element just closed was GetMedia's
// trailer at the top of an unknown-size Segment.
func (fr *FragmentReader) trailerRead() bool {
	if len(fr.stack) != 1 || fr.stack[0].id != idSegment || fr.stack[0].end != unknownSize {
		return false
	}
	_, a := fr.frag.Tag(TagMillisBehindNow)
	_, b := fr.frag.Tag(TagContinuationToken)
	return a && b
}

func (fr *FragmentReader) push(off int64, id uint32, size int64, hlen int) error {
	if len(fr.stack) >= maxDepth {
		return syntaxErrorf(off, id, "nesting deeper than %d", maxDepth)
	}
	m := master{id: id, end: unknownSize, idx: -1}
	if size != unknownSize {
		m.end = off + int64(hlen) + size
	}
	switch id {
	case idTrackEntry:
		fr.frag.Tracks = append(fr.frag.Tracks, Track{})
		m.idx = len(fr.frag.Tracks) - 1
	case idSimpleTag:
		fr.frag.Tags = append(fr.frag.Tags, Tag{})
		m.idx = len(fr.frag.Tags) - 1
	case idTags:
		fr.tagsAt = off
	case idCluster:
		fr.clusterTC = 0
		if !fr.frag.HasCluster {
			fr.frag.HasCluster = true
		}
	}
	fr.stack = append(fr.stack, m)
	return nil
}

func (fr *FragmentReader) setUint(id uint32, top master, v uint64) {
	switch id {
	case idTimecodeScale:
		if v > 0 {
			fr.frag.TimecodeScale = v
		}
	case idTimecode:
		fr.clusterTC = v
		if len(fr.frag.Blocks) == 0 {
			fr.frag.Timecode = v
		}
	case idTrackNumber, idTrackUID, idTrackType:
		if top.idx < 0 {
			return
		}
		t := &fr.frag.Tracks[top.idx]
		switch id {
		case idTrackNumber:
			t.Number = v
		case idTrackUID:
			t.UID = v
		default:
			t.Type = v
		}
	}
}

func (fr *FragmentReader) setString(id uint32, top master, s string) {
	if top.idx < 0 {
		return
	}
	switch id {
	case idName:
		fr.frag.Tracks[top.idx].Name = s
	case idCodecID:
		fr.frag.Tracks[top.idx].CodecID = s
	case idTagName:
		fr.frag.Tags[top.idx].Name = s
		if s == TagMillisBehindNow || s == TagContinuationToken {
			fr.frag.TrailerOffset = fr.tagsAt
		}
	case idTagString:
		fr.frag.Tags[top.idx].Value = s
	}
}

// readEBMLHeader consumes an EBML header and begins a fragment.
func (fr *FragmentReader) readEBMLHeader(off int64, size int64, hlen int) error {
	if size == unknownSize || size > maxHeaderBytes {
		return syntaxErrorf(off, idEBML, "EBML header size must be known and at most %d bytes", maxHeaderBytes)
	}
	total := hlen + int(size)
	if err := fr.fill(total); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return &SyntaxError{Offset: off, ID: idEBML, Err: io.ErrUnexpectedEOF}
		}
		return err
	}
	fr.begin(off)
	body := fr.buf[fr.r+hlen : fr.r+total]
	for p := 0; p < len(body); {
		cid, idLen, ok := readID(body[p:])
		if !ok {
			return syntaxErrorf(off+int64(hlen+p), 0, "invalid element ID in EBML header")
		}
		csize, sizeLen, ok := readSize(body[p+idLen:])
		if !ok || csize == unknownSize || int64(p+idLen+sizeLen)+csize > int64(len(body)) {
			return syntaxErrorf(off+int64(hlen+p), cid, "invalid size in EBML header")
		}
		start := p + idLen + sizeLen
		if cid == idDocType {
			fr.frag.DocType = fr.intern(trimNUL(body[start : start+int(csize)]))
		}
		p = start + int(csize)
	}
	fr.consume(total)
	return nil
}

func (fr *FragmentReader) readUint(off int64, id uint32, size int64, hlen int) (uint64, bool, error) {
	if size > 8 {
		return 0, false, syntaxErrorf(off, id, "unsigned integer of %d bytes", size)
	}
	data, truncated, err := fr.readSmall(hlen, int(size))
	if err != nil || truncated {
		return 0, truncated, err
	}
	var v uint64
	for _, b := range data {
		v = v<<8 | uint64(b)
	}
	return v, false, nil
}

func (fr *FragmentReader) readString(off int64, id uint32, size int64, hlen int) (string, bool, error) {
	if size > maxStringBytes {
		return "", false, &SyntaxError{Offset: off, ID: id, Err: fmt.Errorf("%w: string of %d bytes (limit %d)", ErrTooLarge, size, maxStringBytes)}
	}
	data, truncated, err := fr.readSmall(hlen, int(size))
	if err != nil || truncated {
		return "", truncated, err
	}
	return fr.intern(trimNUL(data)), false, nil
}

// readSmall consumes an element whose body fits the window and returns the
// body, valid until the next read.
func (fr *FragmentReader) readSmall(hlen, size int) ([]byte, bool, error) {
	total := hlen + size
	if err := fr.fill(total); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return nil, true, nil
		}
		return nil, false, err
	}
	data := fr.buf[fr.r+hlen : fr.r+total]
	fr.consume(total)
	return data, false, nil
}

// readBlock copies a SimpleBlock or Block into the arena and records it.
func (fr *FragmentReader) readBlock(off int64, id uint32, size int64, hlen int) (bool, error) {
	if size > int64(fr.MaxFragmentBytes-len(fr.arena)) {
		return false, &SyntaxError{Offset: off, ID: id, Err: fmt.Errorf("%w: block of %d bytes makes the fragment larger than %d bytes", ErrTooLarge, size, fr.MaxFragmentBytes)}
	}
	fr.consume(hlen)
	start := len(fr.arena)
	// The arena grows with the bytes that arrive, not with the declared size,
	// so a corrupt size costs no more memory than the input it comes with.
	for left := int(size); left > 0; {
		if fr.r == fr.w {
			if err := fr.fill(1); err != nil {
				fr.arena = fr.arena[:start]
				if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
					return true, nil
				}
				return false, err
			}
		}
		n := min(left, fr.w-fr.r)
		fr.arena = append(fr.arena, fr.buf[fr.r:fr.r+n]...)
		fr.r += n
		left -= n
	}
	body := fr.arena[start:]
	track, tlen, ok := readSize(body)
	if !ok || track == unknownSize || len(body) < tlen+3 {
		fr.arena = fr.arena[:start]
		return false, syntaxErrorf(off, id, "block header too short or invalid track number")
	}
	rel := int16(uint16(body[tlen])<<8 | uint16(body[tlen+1]))
	flags := body[tlen+2]
	hdr := tlen + 3
	lace, err := lacingHeaderLen(flags, body[hdr:])
	if err != nil {
		fr.arena = fr.arena[:start]
		return false, &SyntaxError{Offset: off, ID: id, Err: err}
	}
	hdr += lace
	fr.frag.Blocks = append(fr.frag.Blocks, Block{
		Track:    uint64(track),
		Timecode: int64(fr.clusterTC) + int64(rel),
		Flags:    flags,
		off:      start + hdr,
		n:        int(size) - hdr,
	})
	return false, nil
}

// lacingHeaderLen returns the length of a block's lacing header; the laced
// frames follow it back to back.
func lacingHeaderLen(flags byte, p []byte) (int, error) {
	lacing := (flags >> 1) & 3
	if lacing == 0 {
		return 0, nil
	}
	if len(p) < 1 {
		return 0, errors.New("laced block without frame count")
	}
	frames := int(p[0]) + 1
	n := 1
	switch lacing {
	case 1: // Xiph: each size but the last as a run of 255s and a final byte
		for i := 0; i < frames-1; i++ {
			for {
				if n >= len(p) {
					return 0, errors.New("truncated Xiph lacing header")
				}
				b := p[n]
				n++
				if b != 255 {
					break
				}
			}
		}
	case 2: // EBML: first size as a vint, then signed differences
		for i := 0; i < frames-1; i++ {
			_, l, ok := readSize(p[n:])
			if !ok {
				return 0, errors.New("invalid EBML lacing header")
			}
			n += l
		}
	}
	if n > len(p) {
		return 0, errors.New("lacing header longer than the block")
	}
	return n, nil
}

// peekHeader parses the next element header without consuming it. It
// returns io.EOF at a clean end of input and io.ErrUnexpectedEOF inside a
// header. It reads no more than the header needs: in a live stream the
// end of a fragment may be the last byte to arrive for a while.
func (fr *FragmentReader) peekHeader() (id uint32, size int64, hlen int, err error) {
	need, ended := 1, false
	for {
		if fr.w-fr.r < need && !ended {
			if err := fr.fill(need); err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
					return 0, 0, 0, err
				}
				ended = true
			}
		}
		p := fr.buf[fr.r:fr.w]
		if len(p) == 0 {
			return 0, 0, 0, io.EOF
		}
		id, idLen, ok := readID(p)
		if !ok {
			if idLen <= len(p) {
				return 0, 0, 0, syntaxErrorf(fr.Offset(), 0, "invalid element ID byte 0x%02X", p[0])
			}
			if ended {
				return 0, 0, 0, io.ErrUnexpectedEOF
			}
			need = idLen
			continue
		}
		size, sizeLen, ok := readSize(p[idLen:])
		if !ok {
			if idLen+sizeLen <= len(p) {
				return 0, 0, 0, syntaxErrorf(fr.Offset(), id, "invalid size byte 0x00")
			}
			if ended {
				return 0, 0, 0, io.ErrUnexpectedEOF
			}
			need = idLen + sizeLen
			continue
		}
		return id, size, idLen + sizeLen, nil
	}
}

// readID decodes an element ID, keeping its marker bits. On failure n is the
// length the ID needs (more than len(p) when p is too short).
func readID(p []byte) (id uint32, n int, ok bool) {
	if len(p) == 0 {
		return 0, 1, false
	}
	b := p[0]
	switch {
	case b&0x80 != 0:
		n = 1
	case b&0x40 != 0:
		n = 2
	case b&0x20 != 0:
		n = 3
	case b&0x10 != 0:
		n = 4
	default:
		return 0, 0, false
	}
	if len(p) < n {
		return 0, n, false
	}
	for i := 0; i < n; i++ {
		id = id<<8 | uint32(p[i])
	}
	return id, n, true
}

// readSize decodes a size vint of 1 to 8 bytes, minimal or not; all value
// bits set means unknownSize. On failure n is the length it needs.
func readSize(p []byte) (size int64, n int, ok bool) {
	if len(p) == 0 {
		return 0, 1, false
	}
	b := p[0]
	if b == 0 {
		return 0, 0, false
	}
	n = 1
	for mask := byte(0x80); b&mask == 0; mask >>= 1 {
		n++
	}
	if len(p) < n {
		return 0, n, false
	}
	v := uint64(b & (0xFF >> n))
	allOnes := v == uint64(0xFF>>n)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(p[i])
		allOnes = allOnes && p[i] == 0xFF
	}
	if allOnes {
		return unknownSize, n, true
	}
	if v > 1<<56 {
		return 0, n, false
	}
	return int64(v), n, true
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// intern returns s as a string, reusing the string of an earlier equal
// value: tag names and track names repeat in every fragment, and some
// values repeat within one.
func (fr *FragmentReader) intern(b []byte) string {
	if s, ok := fr.interned[string(b)]; ok {
		return s
	}
	for _, s := range fr.fragmentStrings {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	switch {
	case len(fr.interned) < maxInterned && len(b) <= 64:
		fr.interned[s] = s
	case len(fr.fragmentStrings) < maxFragmentStrings:
		fr.fragmentStrings = append(fr.fragmentStrings, s)
	}
	return s
}

func (fr *FragmentReader) consume(n int) { fr.r += n }

// fill makes at least n unread bytes available in the window. It returns
// io.EOF when the input ended with no unread byte and io.ErrUnexpectedEOF
// when it ended with fewer than n.
func (fr *FragmentReader) fill(n int) error {
	if fr.w-fr.r >= n {
		return nil
	}
	if n > len(fr.buf)-fr.r {
		if n > len(fr.buf) {
			nb := make([]byte, max(n, 2*len(fr.buf)))
			copy(nb, fr.buf[fr.r:fr.w])
			fr.buf = nb
		} else {
			copy(fr.buf, fr.buf[fr.r:fr.w])
		}
		fr.base += int64(fr.r)
		fr.w -= fr.r
		fr.r = 0
	}
	for fr.w-fr.r < n {
		if fr.srcErr != nil {
			if fr.srcErr == io.EOF {
				if fr.w == fr.r {
					return io.EOF
				}
				return io.ErrUnexpectedEOF
			}
			return fr.srcErr
		}
		m, err := fr.src.Read(fr.buf[fr.w:])
		fr.w += m
		if err != nil {
			fr.srcErr = err
		}
	}
	return nil
}

// skip consumes n bytes. It reports truncated when the input ends first.
func (fr *FragmentReader) skip(n int) (truncated bool, err error) {
	avail := fr.w - fr.r
	if n <= avail {
		fr.r += n
		return false, nil
	}
	fr.base += int64(fr.w)
	fr.r, fr.w = 0, 0
	rest := int64(n - avail)
	if fr.srcErr != nil {
		return fr.srcErr == io.EOF, errIfNotEOF(fr.srcErr)
	}
	m, err := io.CopyN(io.Discard, fr.src, rest)
	fr.base += m
	if err != nil {
		fr.srcErr = err
		return err == io.EOF, errIfNotEOF(err)
	}
	return false, nil
}

func errIfNotEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}
