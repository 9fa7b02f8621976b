package vad

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
)

// checkSileroModel verifies that path holds a Silero VAD ONNX model that
// sherpa-onnx accepts (v4: inputs input, sr, h, c; v5: input, state, sr)
// and reports which version it is. sherpa-onnx ends the process on an
// unexpected model instead of returning an error, so this runs first.
func checkSileroModel(path string) (v5 bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("%w: silero model: %w", ErrUnavailable, err)
	}
	in, out, err := onnxGraphIO(b)
	if err != nil {
		return false, fmt.Errorf("%w: silero model %s: not an ONNX model: %w", ErrUnavailable, path, err)
	}
	v5 = slices.Equal(in, []string{"input", "state", "sr"}) && slices.Equal(out, []string{"output", "stateN"})
	v4 := slices.Equal(in, []string{"input", "sr", "h", "c"}) && slices.Equal(out, []string{"output", "hn", "cn"})
	if !v4 && !v5 {
		return false, fmt.Errorf("%w: silero model %s: inputs %q and outputs %q are not Silero VAD v4 or v5", ErrUnavailable, path, in, out)
	}
	return v5, nil
}

// onnxGraphIO reads the names of the main graph's inputs (initializers left
// out) and outputs from an ONNX ModelProto, walking the protobuf wire format:
// ModelProto.graph is field 7; GraphProto.initializer 5, input 11, output 12;
// ValueInfoProto.name and TensorProto.name are fields 1 and 8.
func onnxGraphIO(model []byte) (inputs, outputs []string, err error) {
	var graph []byte
	err = protoFields(model, func(num int, v []byte) error {
		if num == 7 {
			graph = v
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if graph == nil {
		return nil, nil, errors.New("no graph")
	}
	var inits []string
	name := func(msg []byte, field int) (string, error) {
		var s string
		err := protoFields(msg, func(num int, v []byte) error {
			if num == field {
				s = string(v)
			}
			return nil
		})
		return s, err
	}
	err = protoFields(graph, func(num int, v []byte) error {
		var err error
		var s string
		switch num {
		case 5:
			s, err = name(v, 8)
			inits = append(inits, s)
		case 11:
			s, err = name(v, 1)
			inputs = append(inputs, s)
		case 12:
			s, err = name(v, 1)
			outputs = append(outputs, s)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	inputs = slices.DeleteFunc(inputs, func(s string) bool { return slices.Contains(inits, s) })
	return inputs, outputs, nil
}

// protoFields calls f with the number and bytes of each length-delimited
// field of the protobuf message b, skipping the other wire types.
func protoFields(b []byte, f func(num int, v []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("bad field key")
		}
		b = b[n:]
		num, typ := int(key>>3), key&7
		switch typ {
		case 0:
			_, n = binary.Uvarint(b)
			if n <= 0 {
				return errors.New("bad varint")
			}
			b = b[n:]
		case 1, 5:
			size := 8
			if typ == 5 {
				size = 4
			}
			if len(b) < size {
				return errors.New("truncated")
			}
			b = b[size:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errors.New("bad length")
			}
			if err := f(num, b[n:n+int(l)]); err != nil {
				return err
			}
			b = b[n+int(l):]
		default:
			return fmt.Errorf("unsupported wire type %d", typ)
		}
	}
	return nil
}
