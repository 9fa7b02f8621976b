package wav

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Errors a Reader reports for input that is not a WAVE file it can read.
var (
	ErrNotWAVE     = errors.New("wav: not a RIFF/WAVE file")
	ErrUnsupported = errors.New("wav: unsupported encoding")
)

const (
	formatPCM        = 1
	formatExtensible = 0xFFFE
	maxFmtChunk      = 1 << 10
)

// Reader reads the PCM data of a WAVE file.
type Reader struct {
	r       io.Reader
	format  Format
	dataLen int64 // bytes in the data chunk, or UnknownLength
	offset  int64 // offset of the first data byte in the file
	left    int64 // data bytes not yet read, or UnknownLength
}

// NewReader parses the header of a WAVE file of linear PCM and returns a
// reader positioned at the first byte of its data chunk. Chunks other than
// "fmt " and "data" are skipped.
func NewReader(r io.Reader) (*Reader, error) {
	// Header fields are read a few bytes at a time.
	if _, ok := r.(io.ByteReader); !ok {
		r = bufio.NewReaderSize(r, 4096)
	}
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotWAVE, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, ErrNotWAVE
	}
	rd := &Reader{r: r, offset: 12}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, fmt.Errorf("wav: no data chunk: %w", noEOF(err))
		}
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		rd.offset += 8
		switch id {
		case "fmt ":
			if size < 16 || size > maxFmtChunk {
				return nil, fmt.Errorf("wav: fmt chunk of %d bytes", size)
			}
			buf := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, fmt.Errorf("wav: fmt chunk: %w", noEOF(err))
			}
			rd.offset += int64(len(buf))
			if err := rd.parseFmt(buf); err != nil {
				return nil, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, errors.New("wav: data chunk before fmt chunk")
			}
			rd.dataLen, rd.left = size, size
			if size == streamingSize || size == 0 {
				// Streaming writers leave the size open: read to the end.
				rd.dataLen, rd.left = UnknownLength, UnknownLength
			}
			return rd, nil
		default:
			n, err := io.CopyN(io.Discard, r, size+size%2)
			rd.offset += n
			if err != nil {
				return nil, fmt.Errorf("wav: skip %q chunk: %w", id, noEOF(err))
			}
		}
	}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (rd *Reader) parseFmt(b []byte) error {
	tag := binary.LittleEndian.Uint16(b[0:2])
	rd.format = Format{
		Channels:      int(binary.LittleEndian.Uint16(b[2:4])),
		SampleRate:    int(binary.LittleEndian.Uint32(b[4:8])),
		BitsPerSample: int(binary.LittleEndian.Uint16(b[14:16])),
	}
	if tag == formatExtensible {
		// The sub-format GUID starts with the real format tag.
		if len(b) < 26 {
			return fmt.Errorf("%w: short WAVE_FORMAT_EXTENSIBLE header", ErrUnsupported)
		}
		tag = binary.LittleEndian.Uint16(b[24:26])
	}
	if tag != formatPCM {
		return fmt.Errorf("%w: format tag %d (only linear PCM)", ErrUnsupported, tag)
	}
	if err := rd.format.validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return nil
}

// Format returns the PCM format.
func (rd *Reader) Format() Format { return rd.format }

// DataLen returns the length of the data chunk, or UnknownLength.
func (rd *Reader) DataLen() int64 { return rd.dataLen }

// DataOffset returns the offset of the first data byte within the file.
func (rd *Reader) DataOffset() int64 { return rd.offset }

// Read reads PCM data, stopping at the end of the data chunk.
func (rd *Reader) Read(p []byte) (int, error) {
	if rd.left == 0 {
		return 0, io.EOF
	}
	if rd.left > 0 && int64(len(p)) > rd.left {
		p = p[:rd.left]
	}
	n, err := rd.r.Read(p)
	if rd.left > 0 {
		rd.left -= int64(n)
		if err == io.EOF && rd.left > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	return n, err
}

// OpenMono16 opens the WAV file name, which must hold mono 16-bit PCM, and
// returns a reader of its samples; close the file when done.
func OpenMono16(name string) (*Reader, *os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	r, err := NewReader(f)
	if err == nil && (r.Format().Channels != 1 || r.Format().BitsPerSample != 16) {
		err = fmt.Errorf("%w: %d channels of %d bits, want mono 16-bit", ErrUnsupported, r.Format().Channels, r.Format().BitsPerSample)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, f, nil
}
