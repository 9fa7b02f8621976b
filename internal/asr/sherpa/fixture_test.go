package sherpa

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pb appends protobuf fields, for writing ONNX files in tests.
type pb []byte

func (b pb) varint(num int, v uint64) pb {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireVarint)
	return binary.AppendUvarint(b, v)
}

func (b pb) bytes(num int, v []byte) pb {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func (b pb) str(num int, s string) pb { return b.bytes(num, []byte(s)) }

// ONNX element types.
const (
	onnxFloat = 1
	onnxInt32 = 6
	onnxInt64 = 7
)

// tensor is a graph input or output: a name, element type and shape
// (ints are fixed dimensions, strings symbolic ones).
type tensor struct {
	name string
	elem int
	dims []any
}

func (t tensor) valueInfo() pb {
	var shape pb
	for _, d := range t.dims {
		switch d := d.(type) {
		case int:
			shape = shape.bytes(1, pb{}.varint(1, uint64(d)))
		case string:
			shape = shape.bytes(1, pb{}.str(2, d))
		}
	}
	tt := pb{}.varint(1, uint64(t.elem)).bytes(2, shape)
	return pb{}.str(valueInfoName, t.name).bytes(2, pb{}.bytes(1, tt))
}

// constant is a Constant node producing a tensor of the given type, shape
// and little-endian data.
func constant(output string, elem int, dims []int, raw []byte) pb {
	var t pb
	for _, d := range dims {
		t = t.varint(1, uint64(d))
	}
	t = t.varint(2, uint64(elem)).str(tensorName, output+"_value").bytes(9, raw)
	attr := pb{}.str(1, "value").bytes(5, t).varint(20, 4) // AttributeProto TENSOR
	return pb{}.str(2, output).str(3, output+"_node").str(4, "Constant").bytes(5, attr)
}

// model describes an ONNX file to write.
type model struct {
	inputs, outputs []tensor
	// inits are initializers also listed as inputs, as older exporters
	// write them; each carries a block of weights.
	inits []string
	nodes []pb
	meta  map[string]string
}

func (m model) bytes() []byte {
	var g pb
	for _, n := range m.nodes {
		g = g.bytes(1, n)
	}
	g = g.str(2, "test")
	for _, name := range m.inits {
		w := make([]byte, 1000)
		g = g.bytes(graphInit, pb{}.varint(1, 250).varint(2, onnxFloat).str(tensorName, name).bytes(9, w))
	}
	for _, in := range m.inputs {
		g = g.bytes(graphInput, in.valueInfo())
	}
	for _, name := range m.inits {
		g = g.bytes(graphInput, tensor{name, onnxFloat, []any{250}}.valueInfo())
	}
	for _, out := range m.outputs {
		g = g.bytes(graphOutput, out.valueInfo())
	}
	b := pb{}.varint(modelIRVersion, 8).str(2, "vmx-test").bytes(modelGraph, g).
		bytes(modelOpset, pb{}.str(1, "").varint(2, 13))
	keys := make([]string, 0, len(m.meta))
	for k := range m.meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = b.bytes(modelMeta, pb{}.str(entryKey, k).str(entryValue, m.meta[k]))
	}
	return b
}

func write(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tokensFile is a tokens.txt naming ids 0 to n-1, the first ones syms.
func tokensFile(n int, syms ...string) []byte {
	var sb strings.Builder
	for i := range n {
		s := fmt.Sprintf("tok%d", i)
		if i < len(syms) {
			s = syms[i]
		}
		fmt.Fprintf(&sb, "%s %d\n", s, i)
	}
	return []byte(sb.String())
}

func whisperEncoder(multilingual bool) model {
	meta := map[string]string{
		"model_type": "whisper-tiny.en", "n_mels": "80", "n_text_layer": "4", "n_text_ctx": "448",
		"n_text_state": "384", "n_vocab": "51864", "sot": "50257", "eot": "50256", "blank_id": "220",
		"translate": "50357", "transcribe": "50358", "is_multilingual": "0", "no_timestamps": "50362",
		"no_speech": "50361", "sot_sequence": "50257",
	}
	if multilingual {
		meta["is_multilingual"] = "1"
		meta["sot_sequence"] = "50258,50259,50359"
		meta["all_language_tokens"] = "50259,50260,50261"
		meta["all_language_codes"] = "en,zh,de"
	}
	return model{
		inputs:  []tensor{{"mel", onnxFloat, []any{"N", 80, "T"}}},
		outputs: []tensor{{"n_layer_cross_k", onnxFloat, nil}, {"n_layer_cross_v", onnxFloat, nil}},
		inits:   []string{"conv1.weight"},
		meta:    meta,
	}
}

var whisperDecoder = model{
	inputs: []tensor{{"tokens", onnxInt64, nil}, {"in_n_layer_self_k_cache", onnxFloat, nil},
		{"in_n_layer_self_v_cache", onnxFloat, nil}, {"n_layer_cross_k", onnxFloat, nil},
		{"n_layer_cross_v", onnxFloat, nil}, {"offset", onnxInt64, nil}},
	outputs: []tensor{{"logits", onnxFloat, nil}, {"out_n_layer_self_k_cache", onnxFloat, nil},
		{"out_n_layer_self_v_cache", onnxFloat, nil}},
}

var (
	transducerEncoder = model{
		inputs:  []tensor{{"x", onnxFloat, nil}, {"x_lens", onnxInt64, nil}},
		outputs: []tensor{{"encoder_out", onnxFloat, nil}, {"encoder_out_lens", onnxInt64, nil}},
		meta:    map[string]string{"model_type": "zipformer2", "version": "1"},
	}
	transducerDecoder = model{
		inputs:  []tensor{{"y", onnxInt64, nil}},
		outputs: []tensor{{"decoder_out", onnxFloat, nil}},
		meta:    map[string]string{"vocab_size": "500", "context_size": "2"},
	}
	transducerJoiner = model{
		inputs:  []tensor{{"encoder_out", onnxFloat, nil}, {"decoder_out", onnxFloat, nil}},
		outputs: []tensor{{"logit", onnxFloat, nil}},
	}
)

// Words of the test Paraformer's vocabulary.
var paraformerTokens = []string{"<blank>", "<s>", "</s>", "hello", "world"}

// paraformerModel is a Paraformer that onnxruntime runs: it takes
// sherpa-onnx's inputs and says "hello" once per stacked feature frame it
// is given (one per 60 ms of 16 kHz audio), so that its transcript
// measures the audio that reached it. Its logits are speech[:, :, 0:5]×0 +
// bias, bias favouring "hello".
func paraformerModel() model {
	const vocab = 5
	f32 := func(xs ...float32) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		return b
	}
	i64 := func(x int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(x)) }
	node := func(op string, inputs []string, output string) pb {
		var n pb
		for _, in := range inputs {
			n = n.str(1, in)
		}
		return n.str(2, output).str(3, output+"_node").str(4, op)
	}
	ones, zeros := strings.Repeat("1,", 559)+"1", strings.Repeat("0,", 559)+"0"
	return model{
		inputs: []tensor{{"speech", onnxFloat, []any{"N", "T", 560}}, {"speech_lengths", onnxInt32, []any{"N"}}},
		outputs: []tensor{{"logits", onnxFloat, []any{"N", "T", vocab}},
			{"token_num", onnxInt32, []any{1}}},
		nodes: []pb{
			constant("starts", onnxInt64, []int{1}, i64(0)),
			constant("ends", onnxInt64, []int{1}, i64(vocab)),
			constant("axes", onnxInt64, []int{1}, i64(2)),
			node("Slice", []string{"speech", "starts", "ends", "axes"}, "sliced"),
			constant("zero", onnxFloat, nil, f32(0)),
			node("Mul", []string{"sliced", "zero"}, "zeros"),
			constant("bias", onnxFloat, []int{vocab}, f32(-10, -10, -10, 0, -10)),
			node("Add", []string{"zeros", "bias"}, "logits"),
			constant("token_num", onnxInt32, []int{1}, binary.LittleEndian.AppendUint32(nil, 1)),
		},
		meta: map[string]string{"vocab_size": "5", "lfr_window_size": "7", "lfr_window_shift": "6",
			"neg_mean": zeros, "inv_stddev": ones},
	}
}

// fixtures writes a model directory for family and returns its Config,
// defaulted. Only the Paraformer's model runs; the others have the
// structure and metadata sherpa-onnx reads but no graph.
func fixtures(t testing.TB, family Family) Config {
	t.Helper()
	dir := t.TempDir()
	c := Config{Model: family}
	switch family {
	case Whisper:
		c.Encoder = write(t, dir, "encoder.onnx", whisperEncoder(false).bytes())
		c.Decoder = write(t, dir, "decoder.onnx", whisperDecoder.bytes())
		c.Tokens = write(t, dir, "tokens.txt", []byte("IQ== 0\nIg== 1\nIw== 2\n"))
	case Transducer:
		c.Encoder = write(t, dir, "encoder.onnx", transducerEncoder.bytes())
		c.Decoder = write(t, dir, "decoder.onnx", transducerDecoder.bytes())
		c.Joiner = write(t, dir, "joiner.onnx", transducerJoiner.bytes())
		c.Tokens = write(t, dir, "tokens.txt", tokensFile(500, "<blk>", "<sos/eos>", "<unk>"))
	case Paraformer:
		c.ModelFile = write(t, dir, "model.onnx", paraformerModel().bytes())
		c.Tokens = write(t, dir, "tokens.txt", tokensFile(5, paraformerTokens...))
	}
	return c.WithDefaults()
}
