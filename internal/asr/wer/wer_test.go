package wer

import "testing"

func TestCompare(t *testing.T) {
	tests := []struct {
		ref, hyp      string
		sub, del, ins int
	}{
		{"call me back", "call me back", 0, 0, 0},
		{"Call me back, please!", "call me back please", 0, 0, 0},
		{"five five five one two", "five five nine one two", 1, 0, 0},
		{"five five five one two", "five five one two", 0, 1, 0},
		{"call me", "please call me now", 0, 0, 2},
		{"a b c d", "x y", 2, 2, 0},
		{"", "hello", 0, 0, 1},
		{"it's me", "its me", 1, 0, 0},
	}
	for _, tc := range tests {
		c := Compare(tc.ref, tc.hyp)
		if c.Substitutions != tc.sub || c.Deletions != tc.del || c.Insertions != tc.ins {
			t.Errorf("Compare(%q, %q) = %+v, want S%d D%d I%d", tc.ref, tc.hyp, c, tc.sub, tc.del, tc.ins)
		}
	}
	if r := Compare("a b c d", "a x c").Rate(); r != 0.5 {
		t.Fatalf("rate %v, want 0.5", r)
	}
	total := Compare("a b", "a").Add(Compare("c d e f", "c d e f"))
	if total.Rate() != 1.0/6 {
		t.Fatalf("corpus rate %v, want 1/6", total.Rate())
	}
}

func FuzzAlign(f *testing.F) {
	f.Add("call me back", "call you back")
	f.Fuzz(func(t *testing.T, ref, hyp string) {
		r, h := Normalize(ref), Normalize(hyp)
		c := Align(r, h)
		// Edits are bounded by the longer sequence, and match its length
		// difference at least.
		if c.Errors() > max(len(r), len(h)) || c.Errors() < abs(len(r)-len(h)) {
			t.Fatalf("%d errors between %d and %d words", c.Errors(), len(r), len(h))
		}
		if c.Substitutions+c.Deletions > len(r) || c.Substitutions+c.Insertions > len(h) {
			t.Fatalf("counts %+v inconsistent with %d/%d words", c, len(r), len(h))
		}
		if self := Align(r, r); self.Errors() != 0 {
			t.Fatalf("a text differs from itself: %+v", self)
		}
	})
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
