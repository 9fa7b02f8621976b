package sherpa

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestParseONNX(t *testing.T) {
	b := whisperEncoder(true).bytes()
	info, err := parseONNX(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The initializer listed among the inputs is not one to feed.
	if !slices.Equal(info.Inputs, []string{"mel"}) || !slices.Equal(info.Outputs, []string{"n_layer_cross_k", "n_layer_cross_v"}) {
		t.Errorf("inputs %q, outputs %q", info.Inputs, info.Outputs)
	}
	if info.IRVersion != 8 || info.Meta["all_language_codes"] != "en,zh,de" || len(info.Meta) != 17 {
		t.Errorf("IR %d, metadata %v", info.IRVersion, info.Meta)
	}

	// A model larger than the read window is walked, not read: weights
	// are skipped.
	m := paraformerModel()
	m.inits = []string{"w1", "w2"}
	big := append(pb{}.bytes(20, make([]byte, 300<<10)), m.bytes()...) // an unknown field first
	r := &countingReader{r: bytes.NewReader(big)}
	info, err = parseONNX(r, int64(len(big)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Inputs, []string{"speech", "speech_lengths"}) || info.Meta["vocab_size"] != "5" {
		t.Errorf("big model: %+v", info)
	}
	if r.n > 200<<10 {
		t.Errorf("read %d bytes of a %d-byte model", r.n, len(big))
	}

	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "no graph"},
		"text":           {[]byte("garbage bytes"), "offset"},
		"truncated":      {b[:len(b)-3], "past the end"},
		"wire type":      {[]byte{0x0b}, "unsupported wire type 3"},
		"field zero":     {[]byte{0x02, 0x00}, "field number 0"},
		"no opset":       {pb{}.varint(1, 8).bytes(7, nil), "IR version 8 without operator sets"},
		"old IR":         {pb{}.varint(1, 2).bytes(7, nil).bytes(8, nil), "IR version 2"},
		"bad metadata":   {pb{}.bytes(14, []byte{0xff}), "metadata"},
		"bad value info": {pb{}.bytes(7, pb{}.bytes(11, []byte{0x0a, 0x05})), "graph: offset"},
	} {
		if _, err := parseONNX(bytes.NewReader(tc.data), int64(len(tc.data))); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += n
	return n, err
}

func FuzzParseONNX(f *testing.F) {
	f.Add(whisperEncoder(true).bytes())
	f.Add(paraformerModel().bytes())
	f.Add(transducerJoiner.bytes())
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseONNX(bytes.NewReader(b), int64(len(b)))
		if err == nil && info.IRVersion < 3 {
			t.Errorf("accepted IR version %d", info.IRVersion)
		}
	})
}
