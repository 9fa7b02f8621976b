package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// ParseDuration parses a duration in Go syntax (time.ParseDuration: "90s",
// "10m", "1h30m") extended with a day unit "d" of 24 hours ("7d", "1d12h",
// "1.5d"). A bare "0" is zero; other numbers need a unit.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("invalid duration %q (use 90s, 10m, 1h30m or 7d)", orig)
	}
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "d") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return bad()
		}
		return d, nil
	}
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	// Every 'd' is a day unit: Go's units (ns, us, µs, ms, s, m, h) have
	// none. Each "<n>d" is read as n*24 hours by Go's exact decimal parser.
	var total time.Duration
	var rest strings.Builder
	for {
		i := strings.IndexByte(s, 'd')
		if i < 0 {
			rest.WriteString(s)
			break
		}
		j := i
		for j > 0 && (s[j-1] >= '0' && s[j-1] <= '9' || s[j-1] == '.') {
			j--
		}
		if j == i {
			return bad()
		}
		h, err := time.ParseDuration(s[j:i] + "h")
		if err != nil {
			return bad()
		}
		if h > (math.MaxInt64-total)/24 {
			return 0, fmt.Errorf("invalid duration %q: too long", orig)
		}
		total += 24 * h
		rest.WriteString(s[:j])
		s = s[i+1:]
	}
	if r := rest.String(); r != "" {
		if strings.ContainsAny(r, "+-") {
			return bad()
		}
		d, err := time.ParseDuration(r)
		if err != nil {
			return bad()
		}
		if d > math.MaxInt64-total {
			return 0, fmt.Errorf("invalid duration %q: too long", orig)
		}
		total += d
	}
	if neg {
		return -total, nil
	}
	return total, nil
}

// FormatDuration formats d so that ParseDuration reads it back: whole days
// as "7d", otherwise Go syntax without trailing zero units ("10m", "1h30m").
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
