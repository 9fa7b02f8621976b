package mkv

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"
	"time"
)

// Sequence numbers and timestamps consecutive fragments of one stream the
// way KVS does: fragment numbers of 47 digits growing by about 2^92 with
// some noise in the low digits, the cluster timecode at the producer time
// and the server timestamp 170 to 210 ms later. It is deterministic for a
// given seed.
type Sequence struct {
	// Next is the producer time of the next fragment.
	Next time.Time

	seed   string
	index  uint64
	number *big.Int
	stride *big.Int
}

// NewSequence starts a sequence at start; seed (a stream name, say) makes
// its fragment numbers differ from other streams'.
func NewSequence(start time.Time, seed string) *Sequence {
	n, _ := new(big.Int).SetString("91343852333181551234900000000000000000000000000", 10)
	offset := new(big.Int).SetUint64(hash64(seed, 0))
	return &Sequence{
		Next:   start,
		seed:   seed,
		number: n.Add(n, offset.Lsh(offset, 16)),
		stride: new(big.Int).Lsh(big.NewInt(1), 92),
	}
}

// After makes the next fragment number follow number, for a stream that
// continues after fragments numbered elsewhere.
func (s *Sequence) After(number string) error {
	n, ok := new(big.Int).SetString(number, 10)
	if !ok || !ValidFragmentNumber(number) {
		return fmt.Errorf("mkv: invalid fragment number %q", number)
	}
	s.number = n.Add(n, s.stride)
	return nil
}

// Fragment completes tmpl as the next fragment of the sequence: number,
// producer and server times, Segment UID and PCM. It advances Next by the
// longer track's duration.
func (s *Sequence) Fragment(tmpl ConnectFragment, from, to []byte) ConnectFragment {
	f := tmpl
	h := hash64(s.seed, s.index+1)
	f.FragmentNumber = s.number.String()
	f.Producer = s.Next
	f.Server = s.Next.Add(time.Duration(170+h%41) * time.Millisecond)
	binary.BigEndian.PutUint64(f.SegmentUID[:8], h)
	binary.BigEndian.PutUint64(f.SegmentUID[8:], hash64(f.FragmentNumber, 0))
	f.From, f.To = from, to
	if f.Trailer != nil {
		f.Trailer = &Trailer{MillisBehindNow: f.Trailer.MillisBehindNow, ContinuationToken: f.FragmentNumber}
	}
	s.index++
	s.Next = s.Next.Add(time.Duration(max(len(from), len(to))/16) * time.Millisecond)
	s.number.Add(s.number, s.stride)
	s.number.Add(s.number, new(big.Int).SetUint64(h>>24))
	return f
}

func hash64(s string, i uint64) uint64 {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	sum := sha256.Sum256(append([]byte(s), b[:]...))
	return binary.BigEndian.Uint64(sum[:8])
}
