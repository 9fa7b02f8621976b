package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeOnly applies YAML data to the defaults.
func decodeOnly(name string, data []byte) (*Config, Problems) {
	c := Default()
	l := newLoader(c)
	l.decodeYAML(name, data)
	return c, l.probs
}

func TestYAMLStrict(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // Problem.Error() of each problem, in order
	}{
		{"empty", "", nil},
		{"comments only", "# nothing\n", nil},
		{"null document", "~\n", nil},
		{"empty mapping", "{}\n", nil},
		{"null section and leaf", "webhook:\nlisten:\n", nil},
		{"misspelt section", "listen: :1\nwebhok:\n  url: http://x\n",
			[]string{`config.yaml:2: unknown key "webhok" (did you mean "webhook"?)`}},
		{"misspelt nested key", "webhook:\n  url: http://x\n  timout: 3s\n",
			[]string{`config.yaml:3: unknown key "webhook.timout" (did you mean "webhook.timeout"?)`}},
		{"dashes for underscores", "data-dir: /x\n",
			[]string{`config.yaml:1: unknown key "data-dir" (did you mean "data_dir"?)`}},
		{"flattened key", "webhook_url: http://x\n",
			[]string{`config.yaml:1: unknown key "webhook_url" (did you mean "webhook.url"?)`}},
		{"environment name", "VMX_LISTEN: :1\nVMX_BUCKET: b\n",
			[]string{`config.yaml:1: unknown key "VMX_LISTEN" (did you mean "listen"?)`,
				`config.yaml:2: unknown key "VMX_BUCKET" (did you mean "s3.bucket"?)`}},
		{"unknown, no suggestion", "frobnicate: 1\n", []string{`config.yaml:1: unknown key "frobnicate"`}},
		{"nested key at top", "url: http://x\n", []string{`config.yaml:1: unknown key "url"`}},
		{"top key nested", "webhook:\n  listen: :1\n", []string{`config.yaml:2: unknown key "webhook.listen"`}},
		{"duplicate key", "listen: :1\nlisten: :2\n",
			[]string{`config.yaml:2: duplicate key "listen" (first at line 1)`}},
		{"duplicate nested key", "s3:\n  bucket: a\n  bucket: b\n",
			[]string{`config.yaml:3: duplicate key "s3.bucket" (first at line 2)`}},
		{"section is a scalar", "webhook: http://x\n",
			[]string{`config.yaml:1: webhook: must be a mapping with the keys url, secret, timeout`}},
		{"leaf is a mapping", "listen:\n  host: x\n",
			[]string{`config.yaml:1: listen: must be a single value, not a mapping`}},
		{"leaf is a list", "listen: [a, b]\n",
			[]string{`config.yaml:1: listen: must be a single value, not a list`}},
		{"list item not scalar", "attribute_prefixes:\n  - a_\n  - {x: 1}\n",
			[]string{`config.yaml:3: attribute_prefixes: list items must be single values`}},
		{"bad int", "retention:\n  days: ten\n",
			[]string{`config.yaml:2: retention.days: must be a whole number (got "ten")`}},
		{"float int", "jobs:\n  workers: 1.5\n",
			[]string{`config.yaml:2: jobs.workers: must be a whole number (got "1.5")`}},
		{"huge int", "jobs:\n  workers: 99999999999999999999\n",
			[]string{`config.yaml:2: jobs.workers: number out of range (got "99999999999999999999")`}},
		{"bad bool", "s3:\n  path_style: maybe\n",
			[]string{`config.yaml:2: s3.path_style: must be true or false (or yes/no, on/off, 1/0) (got "maybe")`}},
		{"bad duration", "ivr:\n  recording_wait: 10\n",
			[]string{`config.yaml:2: ivr.recording_wait: must be a duration like 90s, 10m, 1h30m or 7d (got "10")`}},
		{"secret not echoed", "api_key: [x]\nwebhook:\n  secret: {a: b}\n",
			[]string{`config.yaml:1: api_key: must be a single value, not a list`,
				`config.yaml:3: webhook.secret: must be a single value, not a mapping`}},
		{"top level list", "- a\n- b\n",
			[]string{`config.yaml:1: the file must be a mapping of keys to values`}},
		{"top level scalar", "listen\n",
			[]string{`config.yaml:1: the file must be a mapping of keys to values`}},
		{"merge key", "base: &b {listen: x}\n<<: *b\n",
			[]string{`config.yaml:1: unknown key "base"`, `config.yaml:2: merge keys (<<) are not supported`}},
		{"complex key", "? [a]\n: 1\n", []string{`config.yaml:1: a key must be a plain name`}},
		{"second document", "listen: :1\n---\nlisten: :2\n",
			[]string{`config.yaml:2: a second YAML document; the file must hold one`}},
		{"bad indentation", "webhook:\n  url: http://x\n timeout: 1s\n",
			[]string{`config.yaml:2: invalid YAML: did not find expected key`}},
		{"tab", "webhook:\n\turl: http://x\n",
			[]string{`config.yaml:2: invalid YAML: found character that cannot start any token`}},
		{"unclosed quote", "listen: \"x\n",
			[]string{`config.yaml:2: invalid YAML: found unexpected end of stream`}},
		{"every problem at once", "webhok: 1\nlisten: [x]\nretention:\n  days: x\n  dayz: 1\nlisten: y\n",
			[]string{
				`config.yaml:1: unknown key "webhok" (did you mean "webhook"?)`,
				`config.yaml:2: listen: must be a single value, not a list`,
				`config.yaml:4: retention.days: must be a whole number (got "x")`,
				`config.yaml:5: unknown key "retention.dayz" (did you mean "retention.days"?)`,
				`config.yaml:6: duplicate key "listen" (first at line 2)`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ps := decodeOnly("config.yaml", []byte(tc.yaml))
			var got []string
			for _, p := range ps {
				got = append(got, p.Error())
				if p.Source.Kind != SourceFile || p.Source.Name != "config.yaml" {
					t.Errorf("problem source %v", p.Source)
				}
				if p.Hint == "" {
					t.Errorf("no hint: %v", p)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestYAMLValues(t *testing.T) {
	c, ps := decodeOnly("c.yaml", []byte(`
listen: ":9000"
webhook:
  timeout: &t 45s
retention:
  interval: *t
  days: 7
attribute_prefixes: "vmx3_, x_"
s3:
  path_style: on
  bucket: ""
kinesis:
  initial_position: TRIM_HORIZON
`))
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if c.Listen != ":9000" || c.Webhook.Timeout != 45*time.Second || c.Retention.Interval != 45*time.Second ||
		c.Retention.Days != 7 || !reflect.DeepEqual(c.AttributePrefixes, []string{"vmx3_", "x_"}) || !c.S3.PathStyle ||
		c.Kinesis.InitialPosition != "TRIM_HORIZON" {
		t.Errorf("decoded %+v", c)
	}
	if s := c.Source("retention.interval"); s != (Source{Kind: SourceFile, Name: "c.yaml", Line: 6}) {
		t.Errorf("alias source %v", s)
	}
	if s := c.Source("s3.bucket"); s.Kind != SourceFile {
		t.Errorf("explicit empty string should count as set: %v", s)
	}
}

// TestEncodeRoundTrip checks that encodeYAML writes what decodeYAML reads.
func TestEncodeRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, data)
	c := validConfig()
	c.AttributePrefixes = []string{"a, b", "true", " c"}
	c.Webhook.URL = "http://x/#: y"
	c.DataDir = "null"
	out, err := encodeYAML(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, ps := decodeOnly("x.yaml", out)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	for _, f := range fields() {
		if f.format(c) != f.format(c2) {
			t.Errorf("%s: %q became %q", f.path, f.format(c), f.format(c2))
		}
	}
}

// checkRoundTrip decodes data and, if it has no problems, checks that the
// encoded configuration decodes to the same values.
func checkRoundTrip(t *testing.T, data []byte) {
	t.Helper()
	c, ps := decodeOnly("f.yaml", data)
	for _, p := range ps {
		if p.Source.Kind != SourceFile || p.Source.Name != "f.yaml" || p.Message == "" {
			t.Fatalf("problem without its file: %#v", p)
		}
		if strings.ContainsRune(p.Error(), '\n') {
			t.Fatalf("multi-line problem: %q", p.Error())
		}
	}
	if len(ps) > 0 {
		return
	}
	out, err := encodeYAML(c)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	c2, ps := decodeOnly("f2.yaml", out)
	if len(ps) > 0 {
		t.Fatalf("re-decoding %q: %v", out, ps)
	}
	for _, f := range fields() {
		if a, b := f.format(c), f.format(c2); a != b {
			t.Fatalf("%s: %q became %q via\n%s", f.path, a, b, out)
		}
		if c2.Source(f.path).Kind != SourceFile {
			t.Fatalf("%s not written", f.path)
		}
	}
}

func FuzzDecodeYAML(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	for _, s := range []string{
		"", "listen: :1\n", "webhook:\n  url: x\n  timeout: 7d\n", "attribute_prefixes: [a, b]\n",
		"a: &a [*a]\n", "x: &x {y: *x}\nlisten: *x\n", "---\n---\n", "webhook: {timeout: !!binary aGk=}\n",
		"retention: {days: 0x10}\n", "links: {lifetime: 1.5d}\n", "'listen': \"\\x01\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data)
	})
}
