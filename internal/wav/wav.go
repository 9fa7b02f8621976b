// Package wav reads and writes RIFF/WAVE files of linear PCM as streams.
//
// The writer never holds audio in memory: on a seekable destination it
// patches the RIFF sizes on Close; on an unseekable one it writes exact sizes
// up front when the length is known, and the streaming convention
// (0xFFFFFFFF) when it is not.
package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Format describes linear PCM.
type Format struct {
	SampleRate    int
	Channels      int
	BitsPerSample int
}

// Telephone is the format of Amazon Connect audio: 8 kHz, mono, 16-bit.
var Telephone = Format{SampleRate: 8000, Channels: 1, BitsPerSample: 16}

// BlockAlign is the number of bytes per sample frame.
func (f Format) BlockAlign() int { return f.Channels * f.BitsPerSample / 8 }

// ByteRate is the number of bytes per second.
func (f Format) ByteRate() int { return f.SampleRate * f.BlockAlign() }

// DurationMS returns how long n bytes of PCM play, rounded down to the
// millisecond.
func (f Format) DurationMS(n int64) int64 {
	if f.ByteRate() == 0 {
		return 0
	}
	return n * 1000 / int64(f.ByteRate())
}

func (f Format) validate() error {
	switch {
	case f.SampleRate <= 0:
		return fmt.Errorf("wav: sample rate %d must be positive", f.SampleRate)
	case f.Channels <= 0 || f.Channels > 8:
		return fmt.Errorf("wav: %d channels not supported (1 to 8)", f.Channels)
	case f.BitsPerSample != 8 && f.BitsPerSample != 16 && f.BitsPerSample != 24 && f.BitsPerSample != 32:
		return fmt.Errorf("wav: %d bits per sample not supported", f.BitsPerSample)
	}
	return nil
}

// HeaderSize is the size of the canonical header this package writes.
const HeaderSize = 44

// UnknownLength tells NewWriter that the data length is not known in advance.
const UnknownLength = -1

const streamingSize = 0xFFFFFFFF

// Writer writes a WAVE file around the PCM written to it.
type Writer struct {
	w       io.Writer
	seeker  io.WriteSeeker // non-nil when the header is patched on Close
	closer  io.Closer      // the file Create opened
	format  Format
	declare int64 // data length written in the header, or UnknownLength
	n       int64
	closed  bool
}

// NewWriter writes a header to w and returns a writer for the PCM data.
// With dataLen >= 0 the header carries exact sizes and Close fails unless
// exactly dataLen bytes were written. With UnknownLength the header is patched
// on Close when w is an io.WriteSeeker; otherwise it declares the streaming
// size 0xFFFFFFFF, which players read to the end of the stream.
func NewWriter(w io.Writer, f Format, dataLen int64) (*Writer, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	if dataLen > streamingSize-HeaderSize {
		return nil, fmt.Errorf("wav: data length %d exceeds the 4 GiB RIFF limit", dataLen)
	}
	wr := &Writer{w: w, format: f, declare: dataLen}
	if dataLen < 0 {
		if s, ok := w.(io.WriteSeeker); ok && seekable(s) {
			wr.seeker = s
		}
	}
	if _, err := w.Write(header(f, dataLen)); err != nil {
		return nil, fmt.Errorf("wav: write header: %w", err)
	}
	return wr, nil
}

// seekable tells apart files from pipes and terminals, which implement
// io.Seeker but fail to seek.
func seekable(s io.Seeker) bool {
	_, err := s.Seek(0, io.SeekCurrent)
	return err == nil
}

// Create creates the file name and returns a writer whose Close also closes
// the file.
func Create(name string, f Format) (*Writer, error) {
	file, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("wav: %w", err)
	}
	w, err := NewWriter(file, f, UnknownLength)
	if err != nil {
		return nil, errors.Join(err, file.Close())
	}
	w.closer = file
	return w, nil
}

func header(f Format, dataLen int64) []byte {
	riff, data := uint32(streamingSize), uint32(streamingSize)
	if dataLen >= 0 {
		data = uint32(dataLen)
		riff = uint32(HeaderSize - 8 + dataLen + dataLen%2)
	}
	h := make([]byte, 0, HeaderSize)
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, riff)
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, 1) // PCM
	h = binary.LittleEndian.AppendUint16(h, uint16(f.Channels))
	h = binary.LittleEndian.AppendUint32(h, uint32(f.SampleRate))
	h = binary.LittleEndian.AppendUint32(h, uint32(f.ByteRate()))
	h = binary.LittleEndian.AppendUint16(h, uint16(f.BlockAlign()))
	h = binary.LittleEndian.AppendUint16(h, uint16(f.BitsPerSample))
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, data)
	return h
}

// Write writes PCM data.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("wav: write after close")
	}
	if w.declare >= 0 && w.n+int64(len(p)) > w.declare {
		return 0, fmt.Errorf("wav: %d bytes exceed the declared data length %d", w.n+int64(len(p)), w.declare)
	}
	if w.n+int64(len(p)) > streamingSize-HeaderSize-1 {
		return 0, errors.New("wav: data exceeds the 4 GiB RIFF limit")
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

// DataBytes returns the number of PCM bytes written so far.
func (w *Writer) DataBytes() int64 { return w.n }

// Close pads odd-length data, fixes the header where it can and closes the
// file opened by Create. It does not close a writer passed to NewWriter.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.finish()
	if w.closer != nil {
		err = errors.Join(err, w.closer.Close())
	}
	return err
}

func (w *Writer) finish() error {
	if w.declare >= 0 && w.n != w.declare {
		return fmt.Errorf("wav: wrote %d bytes, header declares %d", w.n, w.declare)
	}
	if w.n%2 == 1 {
		if _, err := w.w.Write([]byte{0}); err != nil {
			return fmt.Errorf("wav: write pad byte: %w", err)
		}
	}
	if w.seeker == nil {
		return nil
	}
	if _, err := w.seeker.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("wav: patch header: %w", err)
	}
	if _, err := w.seeker.Write(header(w.format, w.n)); err != nil {
		return fmt.Errorf("wav: patch header: %w", err)
	}
	if _, err := w.seeker.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("wav: patch header: %w", err)
	}
	return nil
}
