package synth

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestCallIsDeterministicAndShaped(t *testing.T) {
	read := func(seed uint64, chunk int) ([]byte, []byte) {
		c := NewCall(seed, 2)
		var from, to []byte
		f, tt := make([]byte, chunk), make([]byte, chunk)
		for len(from) < 8*SampleRate*2 {
			c.Read(f, tt)
			from, to = append(from, f...), append(to, tt...)
		}
		return from, to
	}
	f1, t1 := read(7, 1024)
	f2, t2 := read(7, 62) // other chunking, same audio
	if !bytes.Equal(f1[:len(f2)], f2[:len(f1[:len(f2)])]) || !bytes.Equal(t1[:len(t2)], t2[:len(t1[:len(t2)])]) {
		t.Fatal("audio depends on read size")
	}
	if f3, _ := read(8, 1024); bytes.Equal(f1, f3) {
		t.Fatal("different seeds gave the same caller")
	}
	c := NewCall(7, 2)
	energy := func(b []byte, from, to int) float64 {
		var e float64
		for i := from * 2; i < to*2; i += 2 {
			v := float64(int16(binary.LittleEndian.Uint16(b[i:])))
			e += v * v
		}
		return e / float64(to-from)
	}
	if energy(f1, 0, c.CallerStart()) != 0 {
		t.Fatal("caller speaks during the prompt")
	}
	if energy(f1, c.CallerStart(), c.CallerStart()+3*SampleRate) < 1e5 {
		t.Fatal("caller is silent")
	}
	if energy(t1, 0, c.PromptEnd) < 1e5 || energy(t1, c.CallerStart(), c.CallerStart()+SampleRate) != 0 {
		t.Fatal("prompt side is not prompt then silence")
	}
}
