package connect

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCache(t *testing.T) {
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	c := newCache[int](time.Minute, 3, func() time.Time { return now })
	for i := range 3 {
		c.put(fmt.Sprint(i), i)
	}
	c.get("0") // 0 is now the most recently used; 1 the least
	c.put("3", 3)
	if c.len() != 3 {
		t.Errorf("len = %d, want the bound 3", c.len())
	}
	if _, ok := c.get("1"); ok {
		t.Error("the least recently used entry was kept")
	}
	for _, k := range []string{"0", "2", "3"} {
		if _, ok := c.get(k); !ok {
			t.Errorf("entry %s was evicted", k)
		}
	}
	now = now.Add(time.Minute)
	if v, ok := c.get("3"); ok {
		t.Errorf("expired entry returned: %d", v)
	}
	if c.len() != 2 {
		t.Errorf("len = %d after an expired get, want 2", c.len())
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := newCache[int](time.Minute, 50, time.Now)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := fmt.Sprint(i % 70)
				c.put(k, g)
				c.get(k)
			}
		})
	}
	wg.Wait()
	if c.len() > 50 {
		t.Errorf("len = %d over the bound", c.len())
	}
}

func TestCut(t *testing.T) {
	if got := cutRunes("short", 10); got != "short" {
		t.Errorf("cutRunes kept %q", got)
	}
	got := cutRunes(strings.Repeat("ab ", 20), 20)
	if utf8.RuneCountInString(got) > 20 || !strings.HasSuffix(got, truncMarker) || strings.Contains(got, " "+truncMarker) {
		t.Errorf("cutRunes = %q", got)
	}
	if got := cutBytes("日本語日本語日本語日本語日本語", 20); len(got) > 20 || !utf8.ValidString(got) || got != "日"+truncMarker {
		t.Errorf("cutBytes = %q (%d bytes)", got, len(got))
	}
	if got := cutBytes("abcdefghijklmnopqrstuvwxyz", 5); got != "" {
		t.Errorf("cutBytes with no room for the marker = %q", got)
	}
}

func FuzzQVMBAddress(f *testing.F) {
	for _, s := range []string{"Basic queue. QVMB::team@example.com", "QVMB::", "QVMB:: <a@b.example>.", "QVMB::x QVMB::y@z", "no marker", "QVMB::é@例え.jp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, desc string) {
		addr, raw, found := qvmbAddress(desc)
		if found != strings.Contains(desc, qvmbMarker) {
			t.Fatalf("found = %v for %q", found, desc)
		}
		if addr == "" {
			return
		}
		if !strings.Contains(raw, addr) || !strings.Contains(desc, raw) || !strings.Contains(addr, "@") || strings.ContainsAny(addr, " \t\r\n") {
			t.Fatalf("qvmbAddress(%q) = %q from %q", desc, addr, raw)
		}
		if a, ok := emailAddress(addr); !ok || a != addr {
			t.Fatalf("address %q does not parse back (%q)", addr, a)
		}
	})
}

func FuzzCut(f *testing.F) {
	f.Add("Hi, this is Jane", 10)
	f.Add("日本語の留守番電話", 5)
	f.Add("\xff\xfe bad bytes", 14)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		s = cleanText(s)
		r := cutRunes(s, max)
		if utf8.RuneCountInString(r) > max || !utf8.ValidString(r) || (r != s && !strings.HasSuffix(r, truncMarker) && max > utf8.RuneCountInString(truncMarker)) {
			t.Fatalf("cutRunes(%q, %d) = %q", s, max, r)
		}
		b := cutBytes(s, max)
		if len(b) > max || !utf8.ValidString(b) || (b != s && b != "" && !strings.HasSuffix(b, truncMarker)) {
			t.Fatalf("cutBytes(%q, %d) = %q", s, max, b)
		}
		if b != s && b != "" && !strings.HasPrefix(s, strings.TrimSuffix(b, truncMarker)) {
			t.Fatalf("cutBytes(%q, %d) = %q is not a prefix", s, max, b)
		}
	})
}
