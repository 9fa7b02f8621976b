package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"90s", 90 * time.Second, true},
		{"10m", 10 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"250ms", 250 * time.Millisecond, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"12h1d", 36 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"1d1d", 48 * time.Hour, true},
		{"2d3h4m5s", 51*time.Hour + 4*time.Minute + 5*time.Second, true},
		{"-1d", -24 * time.Hour, true},
		{"+2h", 2 * time.Hour, true},
		{" 5m ", 5 * time.Minute, true},
		{"0d", 0, true},
		{"", 0, false},
		{"-", 0, false},
		{"7", 0, false},
		{"d", 0, false},
		{"7dd", 0, false},
		{".d", 0, false},
		{"1e3d", 0, false},
		{"1d-2h", 0, false},
		{"1x", 0, false},
		{"seven days", 0, false},
		{"106752d", 0, false}, // beyond time.Duration
		{"106751d", 106751 * 24 * time.Hour, true},
	}
	for _, tc := range cases {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                "0",
		10 * time.Minute:                 "10m",
		time.Hour:                        "1h",
		90 * time.Minute:                 "1h30m",
		7 * 24 * time.Hour:               "7d",
		36 * time.Hour:                   "36h",
		1500 * time.Millisecond:          "1.5s",
		-48 * time.Hour:                  "-2d",
		time.Hour + time.Second:          "1h0m1s",
		10*time.Minute + time.Nanosecond: "10m0.000000001s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "1d12h", "-1.5d", "90s", "1h-2m", "9223372036854775807ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("%q → %v → %q → %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}
