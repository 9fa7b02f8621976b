package sherpa

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// onnxInfo is what the engine needs to know of an ONNX model before
// sherpa-onnx loads it: sherpa-onnx ends the process, rather than returning
// an error, on a file onnxruntime cannot parse or on missing metadata.
type onnxInfo struct {
	IRVersion int64
	// Inputs are the main graph's inputs that are not initializers (the
	// ones a caller feeds); Outputs its outputs.
	Inputs, Outputs []string
	// Meta is the model's metadata_props, where sherpa-onnx's exporters
	// put a model's hyper-parameters.
	Meta map[string]string
}

// Field numbers of the ONNX protobuf schema (onnx/onnx.proto) read here.
const (
	modelIRVersion = 1  // ModelProto.ir_version
	modelGraph     = 7  // ModelProto.graph
	modelOpset     = 8  // ModelProto.opset_import
	modelMeta      = 14 // ModelProto.metadata_props
	graphInit      = 5  // GraphProto.initializer
	graphInput     = 11 // GraphProto.input
	graphOutput    = 12 // GraphProto.output
	entryKey       = 1  // StringStringEntryProto.key
	entryValue     = 2  // StringStringEntryProto.value
	valueInfoName  = 1  // ValueInfoProto.name
	tensorName     = 8  // TensorProto.name
)

// maxSmallField bounds the fields read into memory (names, metadata
// entries, value infos); weights are skipped, never read.
const maxSmallField = 16 << 20

// readONNX inspects the ONNX model at path. It reads only the model's
// structure, seeking past the weights, so a large model costs little.
func readONNX(path string) (*onnxInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return parseONNX(f, fi.Size())
}

// parseONNX inspects an ONNX ModelProto of size bytes.
func parseONNX(r io.ReaderAt, size int64) (*onnxInfo, error) {
	p := &protoReader{r: r}
	info := &onnxInfo{Meta: map[string]string{}}
	var graph, opset bool
	err := p.walk(0, size, func(f field) error {
		switch {
		case f.num == modelIRVersion && f.typ == wireVarint:
			info.IRVersion = int64(f.val)
		case f.num == modelOpset && f.typ == wireBytes:
			opset = true
		case f.num == modelGraph && f.typ == wireBytes:
			graph = true
			return p.readGraph(f, info)
		case f.num == modelMeta && f.typ == wireBytes:
			b, err := p.read(f)
			if err != nil {
				return err
			}
			k, v, err := entry(b)
			if err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
			info.Meta[k] = v
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case !graph:
		return nil, errors.New("no graph")
	case info.IRVersion < 3 || !opset:
		// Every onnxruntime that sherpa-onnx ships needs IR version 3
		// or later with its operator sets declared.
		return nil, fmt.Errorf("IR version %d without operator sets", info.IRVersion)
	}
	return info, nil
}

// readGraph collects the inputs and outputs of the GraphProto in f.
func (p *protoReader) readGraph(g field, info *onnxInfo) error {
	var inits []string
	err := p.walk(g.off, g.off+g.len, func(f field) error {
		if f.typ != wireBytes {
			return nil
		}
		switch f.num {
		case graphInit:
			// The tensor's name is a small field among its data.
			return p.walk(f.off, f.off+f.len, func(t field) error {
				if t.num == tensorName && t.typ == wireBytes {
					b, err := p.read(t)
					inits = append(inits, string(b))
					return err
				}
				return nil
			})
		case graphInput, graphOutput:
			b, err := p.read(f)
			if err != nil {
				return err
			}
			name, err := stringField(b, valueInfoName)
			if err != nil {
				return err
			}
			if f.num == graphInput {
				info.Inputs = append(info.Inputs, name)
			} else {
				info.Outputs = append(info.Outputs, name)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("graph: %w", err)
	}
	// Older exporters list initializers among the inputs; onnxruntime
	// does not count them as inputs to feed.
	info.Inputs = slices.DeleteFunc(info.Inputs, func(s string) bool { return slices.Contains(inits, s) })
	return nil
}

// entry decodes a StringStringEntryProto.
func entry(b []byte) (key, value string, err error) {
	err = fields(b, func(num int, v []byte) {
		switch num {
		case entryKey:
			key = string(v)
		case entryValue:
			value = string(v)
		}
	})
	return key, value, err
}

// stringField returns the last length-delimited field num of message b.
func stringField(b []byte, num int) (string, error) {
	var s string
	err := fields(b, func(n int, v []byte) {
		if n == num {
			s = string(v)
		}
	})
	return s, err
}

// fields calls f with each length-delimited field of the message b,
// checking the others' encoding.
func fields(b []byte, f func(num int, v []byte)) error {
	// The whole message is the window: nothing is read or copied.
	p := &protoReader{r: byteReaderAt(b), win: b}
	return p.walk(0, int64(len(b)), func(fl field) error {
		if fl.typ == wireBytes {
			f(fl.num, b[fl.off:fl.off+fl.len])
		}
		return nil
	})
}

type byteReaderAt []byte

func (b byteReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Protobuf wire types.
const (
	wireVarint = 0
	wireI64    = 1
	wireBytes  = 2
	wireI32    = 5
)

// field is one field of a protobuf message: a varint's value, or where a
// length-delimited field's bytes lie in the file.
type field struct {
	num, typ int
	val      uint64 // wireVarint
	off, len int64  // wireBytes
}

// protoReader walks protobuf messages in a file through a small window,
// so that fields it does not need (weights) are skipped without reading.
type protoReader struct {
	r      io.ReaderAt
	buf    []byte // read buffer
	win    []byte // bytes from winOff on, in buf or the caller's message
	winOff int64
}

// walk calls f for each field of the message in [start, end).
func (p *protoReader) walk(start, end int64, f func(field) error) error {
	for pos := start; pos < end; {
		key, n, err := p.varint(pos, end)
		if err != nil {
			return fmt.Errorf("offset %d: field key: %w", pos, err)
		}
		pos += n
		fl := field{num: int(key >> 3), typ: int(key & 7)}
		if fl.num == 0 {
			return fmt.Errorf("offset %d: field number 0", pos-n)
		}
		switch fl.typ {
		case wireVarint:
			if fl.val, n, err = p.varint(pos, end); err != nil {
				return fmt.Errorf("offset %d: %w", pos, err)
			}
			pos += n
		case wireI64, wireI32:
			size := int64(8)
			if fl.typ == wireI32 {
				size = 4
			}
			if end-pos < size {
				return fmt.Errorf("offset %d: truncated", pos)
			}
			pos += size
		case wireBytes:
			l, n, err := p.varint(pos, end)
			if err != nil {
				return fmt.Errorf("offset %d: length: %w", pos, err)
			}
			pos += n
			if l > uint64(end-pos) {
				return fmt.Errorf("offset %d: length %d past the end of its message", pos, l)
			}
			fl.off, fl.len = pos, int64(l)
			pos += int64(l)
		default:
			return fmt.Errorf("offset %d: unsupported wire type %d", pos-n, fl.typ)
		}
		if err := f(fl); err != nil {
			return err
		}
	}
	return nil
}

// varint decodes the varint at pos, which must end before end.
func (p *protoReader) varint(pos, end int64) (v uint64, n int64, err error) {
	b, err := p.at(pos, min(binary.MaxVarintLen64, end-pos))
	if err != nil {
		return 0, 0, err
	}
	v, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, errors.New("bad varint")
	}
	return v, int64(k), nil
}

// read returns a copy of the bytes of a small length-delimited field.
func (p *protoReader) read(f field) ([]byte, error) {
	if f.len > maxSmallField {
		return nil, fmt.Errorf("offset %d: field %d of %d bytes is implausibly large", f.off, f.num, f.len)
	}
	b, err := p.at(f.off, f.len)
	return slices.Clone(b), err
}

// at returns n bytes at off, valid until the next call.
func (p *protoReader) at(off, n int64) ([]byte, error) {
	if off >= p.winOff && off+n <= p.winOff+int64(len(p.win)) {
		return p.win[off-p.winOff : off-p.winOff+n], nil
	}
	size := max(n, 64<<10)
	if int64(cap(p.buf)) < size {
		p.buf = make([]byte, size)
	}
	k, err := p.r.ReadAt(p.buf[:size], off)
	p.win, p.winOff = p.buf[:k], off
	if int64(k) < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return p.win[:n], nil
}
