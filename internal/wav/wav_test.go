package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

func pcm(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/13)
	}
	return b
}

// onlyWriter hides io.Seeker so the writer sees an unseekable destination.
type onlyWriter struct{ io.Writer }

func TestWriterRoundTrip(t *testing.T) {
	data := pcm(10_000)
	tests := map[string]struct {
		dst     func(t *testing.T) (io.Writer, func() []byte)
		dataLen int64
		wantLen int64 // data length declared in the header as read back
	}{
		"seekable file, length patched": {
			dst: func(t *testing.T) (io.Writer, func() []byte) {
				f, err := os.Create(filepath.Join(t.TempDir(), "x.wav"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return f, func() []byte { b, _ := os.ReadFile(f.Name()); return b }
			},
			dataLen: UnknownLength, wantLen: 10_000,
		},
		"unseekable, length known": {
			dst: func(t *testing.T) (io.Writer, func() []byte) {
				var b bytes.Buffer
				return onlyWriter{&b}, b.Bytes
			},
			dataLen: 10_000, wantLen: 10_000,
		},
		"unseekable, length unknown": {
			dst: func(t *testing.T) (io.Writer, func() []byte) {
				var b bytes.Buffer
				return onlyWriter{&b}, b.Bytes
			},
			dataLen: UnknownLength, wantLen: UnknownLength,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dst, contents := tc.dst(t)
			w, err := NewWriter(dst, Telephone, tc.dataLen)
			if err != nil {
				t.Fatal(err)
			}
			// Odd-sized writes: the writer must not care about write boundaries.
			for p := data; len(p) > 0; {
				n := min(len(p), 333)
				if _, err := w.Write(p[:n]); err != nil {
					t.Fatal(err)
				}
				p = p[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			file := contents()
			if len(file) != HeaderSize+len(data) {
				t.Fatalf("file is %d bytes, want %d", len(file), HeaderSize+len(data))
			}
			r, err := NewReader(iotest.OneByteReader(bytes.NewReader(file)))
			if err != nil {
				t.Fatal(err)
			}
			if r.Format() != Telephone || r.DataLen() != tc.wantLen || r.DataOffset() != HeaderSize {
				t.Fatalf("format %+v len %d offset %d", r.Format(), r.DataLen(), r.DataOffset())
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("data differs (err %v, %d bytes)", err, len(got))
			}
		})
	}
}

func TestWriterRejectsWrongLength(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(onlyWriter{&b}, Telephone, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pcm(6)); err == nil {
		t.Fatal("writing past the declared length succeeded")
	}
	if _, err := w.Write(pcm(2)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("closing short of the declared length succeeded")
	}
}

func TestWriterPadsOddData(t *testing.T) {
	var b bytes.Buffer
	w, _ := NewWriter(onlyWriter{&b}, Format{8000, 1, 8}, 3)
	w.Write([]byte{1, 2, 3})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(b.Bytes()[4:8]); got != 40 {
		t.Fatalf("RIFF size %d, want 40 (pad byte counted)", got)
	}
	if b.Len() != HeaderSize+4 {
		t.Fatalf("file %d bytes, want %d", b.Len(), HeaderSize+4)
	}
}

func TestReaderSkipsChunksAndReadsExtensible(t *testing.T) {
	var f bytes.Buffer
	f.WriteString("RIFF\x00\x00\x00\x00WAVE")
	f.WriteString("LIST")
	binary.Write(&f, binary.LittleEndian, uint32(5))
	f.WriteString("abcde\x00") // odd chunk plus its pad byte
	f.WriteString("fmt ")
	binary.Write(&f, binary.LittleEndian, uint32(40))
	fmtChunk := make([]byte, 40)
	binary.LittleEndian.PutUint16(fmtChunk[0:], formatExtensible)
	binary.LittleEndian.PutUint16(fmtChunk[2:], 2)
	binary.LittleEndian.PutUint32(fmtChunk[4:], 8000)
	binary.LittleEndian.PutUint16(fmtChunk[14:], 16)
	binary.LittleEndian.PutUint16(fmtChunk[24:], formatPCM)
	f.Write(fmtChunk)
	f.WriteString("data")
	binary.Write(&f, binary.LittleEndian, uint32(8))
	f.Write(pcm(8))
	f.WriteString("junk after data")
	r, err := NewReader(&f)
	if err != nil {
		t.Fatal(err)
	}
	if r.Format() != (Format{8000, 2, 16}) || r.DataOffset() != 12+14+8+40+8 {
		t.Fatalf("format %+v offset %d", r.Format(), r.DataOffset())
	}
	got, _ := io.ReadAll(r)
	if !bytes.Equal(got, pcm(8)) {
		t.Fatalf("data %x", got)
	}
}

func TestReaderErrors(t *testing.T) {
	good := func() []byte {
		var b bytes.Buffer
		w, _ := NewWriter(onlyWriter{&b}, Telephone, 4)
		w.Write(pcm(4))
		w.Close()
		return b.Bytes()
	}
	tests := map[string]struct {
		in   []byte
		want error
	}{
		"empty":     {nil, ErrNotWAVE},
		"not riff":  {[]byte("RIFX\x00\x00\x00\x00WAVEfmt "), ErrNotWAVE},
		"mu-law":    {func() []byte { b := good(); b[20] = 7; return b }(), ErrUnsupported},
		"zero rate": {func() []byte { b := good(); copy(b[24:28], []byte{0, 0, 0, 0}); return b }(), ErrUnsupported},
		"no data":   {good()[:36], io.ErrUnexpectedEOF},
		"truncated": {good()[:HeaderSize+2], io.ErrUnexpectedEOF},
		"huge fmt":  {func() []byte { b := good(); binary.LittleEndian.PutUint32(b[16:], 1<<30); return b }(), nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.in))
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	var b bytes.Buffer
	w, _ := NewWriter(onlyWriter{&b}, Telephone, 64)
	w.Write(pcm(64))
	w.Close()
	f.Add(b.Bytes())
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := NewReader(bytes.NewReader(in))
		if err != nil {
			return
		}
		got, _ := io.ReadAll(r)
		// The data never extends past the input nor starts before the header ends.
		if r.DataOffset()+int64(len(got)) > int64(len(in)) {
			t.Fatalf("read %d data bytes from offset %d of a %d-byte input", len(got), r.DataOffset(), len(in))
		}
		if r.DataLen() >= 0 && int64(len(got)) > r.DataLen() {
			t.Fatalf("read %d bytes past the data chunk length %d", len(got), r.DataLen())
		}
	})
}
