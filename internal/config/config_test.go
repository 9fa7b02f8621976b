package config

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// envOf returns a Getenv over m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// validConfig is a configuration without problems, for rules to break.
func validConfig() *Config {
	c := Default()
	c.APIKey = strings.Repeat("k", 32)
	c.LinkSecret = strings.Repeat("l", 64)
	c.Webhook.URL = "https://example.com/hook"
	c.Webhook.Secret = strings.Repeat("w", 32)
	return c
}

func TestDefaults(t *testing.T) {
	c := Resolve(Options{})
	want := map[string]string{
		"data_dir":                 "./vmx-data",
		"listen":                   "127.0.0.1:8080",
		"public_url":               "http://127.0.0.1:8080",
		"log_level":                "info",
		"db":                       "sqlite://vmx-data/vmx.db",
		"api_auth":                 "key",
		"default_mode":             "webhook",
		"attribute_prefixes":       "vmx3_,vmx_,vm_",
		"transcriber":              "none",
		"s3.path_style":            "false",
		"webhook.timeout":          "10s",
		"defaults.language":        "en-US",
		"retention.days":           "0",
		"retention.interval":       "1h",
		"kinesis.enabled":          "false",
		"kinesis.initial_position": "latest",
		"jobs.max_attempts":        "10",
		"ivr.recording_wait":       "10m",
		"links.presign_ttl":        "5m",
		"links.lifetime":           "0",
	}
	for _, f := range fields() {
		if w, ok := want[f.path]; ok {
			if got := f.format(c); got != w {
				t.Errorf("%s = %q, want %q", f.path, got, w)
			}
		}
		if k := c.Source(f.path).Kind; k != SourceDefault {
			t.Errorf("%s: source %v, want default", f.path, c.Source(f.path))
		}
	}
	if c.Jobs.Workers != runtime.NumCPU() {
		t.Errorf("jobs.workers = %d, want %d", c.Jobs.Workers, runtime.NumCPU())
	}
	if d := c.Database(); d.Driver != "sqlite" || d.DSN != "vmx-data/vmx.db" {
		t.Errorf("Database() = %+v", d)
	}
	// The defaults lack only what must not be generated silently.
	var paths []string
	for _, p := range c.Problems() {
		paths = append(paths, p.Path)
	}
	if want := []string{"api_key", "webhook.url"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("problems of the defaults at %v, want %v:\n%v", paths, want, c.Problems())
	}
}

// TestPrecedence checks default < file < env < flag for a setting of each
// type, and that each layer records its source.
func TestPrecedence(t *testing.T) {
	cases := []struct {
		path                             string
		file                             string // sets path on line 2
		env                              string
		envVal, flagVal                  string
		def, fromFile, fromEnv, fromFlag any
		get                              func(*Config) any
	}{
		{"listen", "# line 1\nlisten: 127.0.0.1:1\n", "VMX_LISTEN", "127.0.0.1:2", ":3",
			"127.0.0.1:8080", "127.0.0.1:1", "127.0.0.1:2", ":3", func(c *Config) any { return c.Listen }},
		{"webhook.url", "webhook:\n  url: http://file\n", "VMX_WEBHOOK_URL", "http://env", "http://flag",
			"", "http://file", "http://env", "http://flag", func(c *Config) any { return c.Webhook.URL }},
		{"s3.bucket", "s3:\n  bucket: file\n", "VMX_BUCKET", "env", "flag",
			"", "file", "env", "flag", func(c *Config) any { return c.S3.Bucket }},
		{"retention.days", "retention:\n  days: 1\n", "VMX_RETENTION_DAYS", "2", "3",
			0, 1, 2, 3, func(c *Config) any { return c.Retention.Days }},
		{"jobs.max_attempts", "jobs:\n  max_attempts: 4\n", "VMX_JOBS_MAX_ATTEMPTS", "5", "6",
			10, 4, 5, 6, func(c *Config) any { return c.Jobs.MaxAttempts }},
		{"s3.path_style", "s3:\n  path_style: true\n", "VMX_S3_PATH_STYLE", "no", "on",
			false, true, false, true, func(c *Config) any { return c.S3.PathStyle }},
		{"kinesis.enabled", "kinesis:\n  enabled: yes\n", "VMX_KINESIS_ENABLED", "false", "1",
			false, true, false, true, func(c *Config) any { return c.Kinesis.Enabled }},
		{"webhook.timeout", "webhook:\n  timeout: 1d\n", "VMX_WEBHOOK_TIMEOUT", "2m", "3s",
			10 * time.Second, 24 * time.Hour, 2 * time.Minute, 3 * time.Second, func(c *Config) any { return c.Webhook.Timeout }},
		{"links.lifetime", "links:\n  lifetime: 7d\n", "VMX_LINKS_LIFETIME", "1h30m", "0",
			time.Duration(0), 7 * 24 * time.Hour, 90 * time.Minute, time.Duration(0), func(c *Config) any { return c.Links.Lifetime }},
		{"attribute_prefixes", "# line 1\nattribute_prefixes: [a_]\n", "VMX_ATTRIBUTE_PREFIXES", "b_, c_", "d_",
			[]string{"vmx3_", "vmx_", "vm_"}, []string{"a_"}, []string{"b_", "c_"}, []string{"d_"},
			func(c *Config) any { return c.AttributePrefixes }},
	}
	byPath := fieldMap(fields())
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			file := writeFile(t, tc.file)
			env := envOf(map[string]string{tc.env: tc.envVal})
			flags := map[string]string{tc.path: tc.flagVal}
			fileSrc := Source{Kind: SourceFile, Name: file, Line: 2}
			envSrc := Source{Kind: SourceEnv, Name: tc.env}
			flagSrc := Source{Kind: SourceFlag, Name: byPath[tc.path].flag}
			layers := []struct {
				name string
				opts Options
				want any
				src  Source
			}{
				{"default", Options{}, tc.def, Source{}},
				{"file", Options{File: file}, tc.fromFile, fileSrc},
				{"env", Options{Getenv: env}, tc.fromEnv, envSrc},
				{"flag", Options{Flags: flags}, tc.fromFlag, flagSrc},
				{"file<env", Options{File: file, Getenv: env}, tc.fromEnv, envSrc},
				{"file<flag", Options{File: file, Flags: flags}, tc.fromFlag, flagSrc},
				{"env<flag", Options{Getenv: env, Flags: flags}, tc.fromFlag, flagSrc},
				{"file<env<flag", Options{File: file, Getenv: env, Flags: flags}, tc.fromFlag, flagSrc},
				{"empty env is unset", Options{File: file, Getenv: envOf(map[string]string{tc.env: ""})}, tc.fromFile, fileSrc},
			}
			for _, l := range layers {
				c := Resolve(l.opts)
				if got := tc.get(c); !reflect.DeepEqual(got, l.want) {
					t.Errorf("%s: got %#v, want %#v", l.name, got, l.want)
				}
				src := c.Source(tc.path)
				if l.src.Kind == SourceDefault {
					if src.Kind != SourceDefault {
						t.Errorf("%s: source %v, want default", l.name, src)
					}
				} else if src != l.src {
					t.Errorf("%s: source %v, want %v", l.name, src, l.src)
				}
				for _, p := range c.problems {
					t.Errorf("%s: load problem %v", l.name, p)
				}
			}
		})
	}
}

// TestEveryKeyEveryLayer sets each key through each layer.
func TestEveryKeyEveryLayer(t *testing.T) {
	for _, f := range fields() {
		var raw, want string
		switch f.ptr(&Config{}).(type) {
		case *string:
			raw, want = "x-1", "x-1"
		case *int:
			raw, want = " 7", "7"
		case *bool:
			raw, want = "true", "true"
		case *time.Duration:
			raw, want = "2d", "2d"
		case *[]string:
			raw, want = "p_, q_", "p_,q_"
		}
		yml := f.path + ": " + raw + "\n"
		if sec, key, ok := strings.Cut(f.path, "."); ok {
			yml = sec + ":\n  " + key + ": " + raw + "\n"
		}
		file := writeFile(t, yml)
		check := func(layer string, c *Config, kind SourceKind) {
			t.Helper()
			if got := f.format(c); got != want {
				t.Errorf("%s via %s: got %q, want %q", f.path, layer, got, want)
			}
			if got := c.Source(f.path).Kind; got != kind {
				t.Errorf("%s via %s: source %v", f.path, layer, c.Source(f.path))
			}
			for _, p := range c.problems {
				t.Errorf("%s via %s: %v", f.path, layer, p)
			}
		}
		check("file", Resolve(Options{File: file}), SourceFile)
		check("env", Resolve(Options{Getenv: envOf(map[string]string{f.env[0]: raw})}), SourceEnv)
		check("flag", Resolve(Options{Flags: map[string]string{f.path: raw}}), SourceFlag)
	}
}

func TestAWSRegionEnv(t *testing.T) {
	c := Resolve(Options{Getenv: envOf(map[string]string{"AWS_REGION": "eu-west-1"})})
	if c.AWS.Region != "eu-west-1" || c.Source("aws.region").Name != "AWS_REGION" {
		t.Errorf("AWS_REGION: %q from %v", c.AWS.Region, c.Source("aws.region"))
	}
	c = Resolve(Options{Getenv: envOf(map[string]string{"AWS_REGION": "eu-west-1", "VMX_AWS_REGION": "us-west-2"})})
	if c.AWS.Region != "us-west-2" || c.Source("aws.region").Name != "VMX_AWS_REGION" {
		t.Errorf("VMX_AWS_REGION should win: %q from %v", c.AWS.Region, c.Source("aws.region"))
	}
}

func TestDerivedDefaults(t *testing.T) {
	c := Resolve(Options{Getenv: envOf(map[string]string{"VMX_DATA_DIR": "/srv/vmx", "VMX_LISTEN": "0.0.0.0:9000"})})
	if c.DB != "sqlite:///srv/vmx/vmx.db" || c.Database().DSN != "/srv/vmx/vmx.db" {
		t.Errorf("db = %q (%+v), want it under data_dir", c.DB, c.Database())
	}
	if c.PublicURL != "http://localhost:9000" {
		t.Errorf("public_url = %q", c.PublicURL)
	}
	if s := c.Source("db"); s.Kind != SourceDefault || s.String() != "default (from data_dir)" {
		t.Errorf("db source %v", s)
	}
	for listen, want := range map[string]string{
		":8080":          "http://localhost:8080",
		"[::]:80":        "http://localhost:80",
		"10.0.0.1:80":    "http://10.0.0.1:80",
		"[fe80::1]:8080": "http://[fe80::1]:8080",
		"vmx.local:1":    "http://vmx.local:1",
		"bad":            "",
	} {
		if got := defaultPublicURL(listen); got != want {
			t.Errorf("defaultPublicURL(%q) = %q, want %q", listen, got, want)
		}
	}
	// Set explicitly, they no longer follow.
	c = Resolve(Options{
		Getenv: envOf(map[string]string{"VMX_DATA_DIR": "/srv/vmx", "VMX_DB": "postgres://h/db", "VMX_PUBLIC_URL": "https://vmx.example.com/"}),
		Flags:  map[string]string{"listen": ":1"},
	})
	if c.DB != "postgres://h/db" || c.PublicURL != "https://vmx.example.com" {
		t.Errorf("explicit db/public_url: %q %q", c.DB, c.PublicURL)
	}
	// kinesis.enabled follows kinesis.stream unless set.
	c = Resolve(Options{Getenv: envOf(map[string]string{"VMX_KINESIS_STREAM": "ctr"})})
	if !c.Kinesis.Enabled {
		t.Error("kinesis.enabled should default to true with a stream")
	}
	c = Resolve(Options{Getenv: envOf(map[string]string{"VMX_KINESIS_STREAM": "ctr", "VMX_KINESIS_ENABLED": "false"})})
	if c.Kinesis.Enabled {
		t.Error("kinesis.enabled: false should win")
	}
}

func TestRegisterFlags(t *testing.T) {
	file := writeFile(t, "listen: 127.0.0.1:1\nretention:\n  days: 3\n")
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	f := RegisterFlags(fs)
	args := []string{"--config", file, "--listen", ":9000", "--db", "postgres://vmx:pw@db/vmx", "--kinesis-enabled", "--kinesis-stream=ctr"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if f.File() != file {
		t.Errorf("File() = %q", f.File())
	}
	c := Resolve(Options{File: f.File(), Flags: f.Values(),
		Getenv: envOf(map[string]string{"VMX_LISTEN": ":1", "VMX_DATA_DIR": "/d", "VMX_RETENTION_DAYS": "4"})})
	if c.Listen != ":9000" || c.Source("listen").String() != "flag --listen" {
		t.Errorf("listen = %q from %v", c.Listen, c.Source("listen"))
	}
	if c.DataDir != "/d" || c.Retention.Days != 4 {
		t.Errorf("unset flags must not hide env: data_dir %q, retention.days %d", c.DataDir, c.Retention.Days)
	}
	if d := c.Database(); d.Driver != "postgres" {
		t.Errorf("Database() = %+v", d)
	}
	if !c.Kinesis.Enabled || c.Source("kinesis.enabled").Kind != SourceFlag {
		t.Errorf("--kinesis-enabled without a value: %v from %v", c.Kinesis.Enabled, c.Source("kinesis.enabled"))
	}
	for _, secret := range []string{"api-key", "link-secret", "webhook-secret"} {
		if fs.Lookup(secret) != nil {
			t.Errorf("secret flag --%s registered", secret)
		}
	}
	fs.PrintDefaults()
	for _, want := range []string{"-listen", "(env VMX_LISTEN)", "(default 127.0.0.1:8080)", "-config file", "(env VMX_AWS_REGION, AWS_REGION)"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("flag help lacks %q", want)
		}
	}

	// A bad flag value is reported by Load with the others.
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f = RegisterFlags(fs)
	if err := fs.Parse([]string{"--retention-days=abc"}); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Options{Flags: f.Values()})
	if err == nil || !strings.Contains(err.Error(), `retention.days: must be a whole number (got "abc" from flag --retention-days)`) {
		t.Errorf("Load error = %v", err)
	}
}

func TestLoad(t *testing.T) {
	env := envOf(map[string]string{
		"VMX_API_KEY":        strings.Repeat("a", 32),
		"VMX_LINK_SECRET":    strings.Repeat("b", 32),
		"VMX_WEBHOOK_URL":    "https://example.com/hook",
		"VMX_WEBHOOK_SECRET": strings.Repeat("c", 16),
	})
	c, err := Load(Options{Getenv: env})
	if err != nil || c == nil {
		t.Fatalf("Load = %v, %v", c, err)
	}
	// Everything set in a file: no problems.
	c, err = Load(Options{File: "testdata/full.yaml"})
	if err != nil {
		t.Fatalf("full.yaml: %v", err)
	}
	if c.File() != "testdata/full.yaml" || c.PublicURL != "https://vmx.example.com" || !c.S3.PathStyle || c.Links.Lifetime != 7*day ||
		c.Live.Heartbeat != time.Second || c.Live.StopPoll != 250*time.Millisecond || c.Live.StaleAfter != 5*time.Second {
		t.Errorf("full.yaml loaded as %+v", c)
	}
	for _, f := range fields() {
		if c.Source(f.path).Kind != SourceFile {
			t.Errorf("full.yaml does not set %s", f.path)
		}
	}
	// VMX_CONFIG names the file when Options.File does not.
	c = Resolve(Options{Getenv: envOf(map[string]string{"VMX_CONFIG": "testdata/full.yaml"})})
	if c.File() != "testdata/full.yaml" || c.DataDir != "/var/lib/vmx" {
		t.Errorf("VMX_CONFIG not read: %q %q", c.File(), c.DataDir)
	}
	// A named file that does not exist is a problem.
	_, err = Load(Options{File: "testdata/nope.yaml", Getenv: env})
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Error() != "configuration file testdata/nope.yaml does not exist" {
		t.Errorf("missing file: %v", err)
	}
}

// TestProblemsAll checks that every problem is reported, not the first.
func TestProblemsAll(t *testing.T) {
	file := writeFile(t, `webhok: {}
listen: nowhere
retention:
  days: -1
  interval: 1s
links:
  presign_ttl: forever
`)
	env := envOf(map[string]string{"VMX_JOBS_WORKERS": "0", "VMX_DB": "mysql://x/y"})
	_, err := Load(Options{File: file, Getenv: env, Flags: map[string]string{"transcriber": "whisper"}})
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load error %T %v, want Problems", err, err)
	}
	want := []string{
		file + `:1: unknown key "webhok" (did you mean "webhook"?)`,
		file + `:2: listen: must be host:port (got "nowhere")`,
		`db: unsupported scheme "mysql" (want sqlite or postgres) (got "mysql://x/y" from env VMX_DB)`,
		`api_key: required when api_auth is "key"`,
		`transcriber: must be none, pocketsphinx, sherpa or aws (got "whisper" from flag --transcriber)`,
		`webhook.url: required because default_mode is "webhook"`,
		file + `:4: retention.days: must be >= 0 (got "-1")`,
		file + `:5: retention.interval: must be at least 1m (got "1s")`,
		`jobs.workers: must be >= 1 (got "0" from env VMX_JOBS_WORKERS)`,
		file + `:7: links.presign_ttl: must be a duration like 90s, 10m, 1h30m or 7d (got "forever")`,
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Error())
		if p.Hint == "" && p.Path != "transcriber" && p.Path != "jobs.workers" {
			t.Errorf("no hint for %v", p)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(err.Error(), "10 configuration problems:\n") {
		t.Errorf("error text:\n%v", err)
	}
}

func TestProblemError(t *testing.T) {
	cases := []struct {
		p    Problem
		want string
	}{
		{Problem{Path: "webhook.url", Value: "ftp://x", Source: Source{Kind: SourceFile, Name: "config.yaml", Line: 12}, Message: "must be an http or https URL"},
			`config.yaml:12: webhook.url: must be an http or https URL (got "ftp://x")`},
		{Problem{Path: "retention.days", Value: "-1", Source: Source{Kind: SourceEnv, Name: "VMX_RETENTION_DAYS"}, Message: "must be >= 0"},
			`retention.days: must be >= 0 (got "-1" from env VMX_RETENTION_DAYS)`},
		{Problem{Path: "listen", Value: "x", Source: Source{Kind: SourceFlag, Name: "listen"}, Message: "must be host:port"},
			`listen: must be host:port (got "x" from flag --listen)`},
		{Problem{Path: "api_key", Source: Source{Kind: SourceEnv, Name: "VMX_API_KEY"}, Message: "must be at least 16 characters (has 3)"},
			`api_key: must be at least 16 characters (has 3) (from env VMX_API_KEY)`},
		{Problem{Path: "webhook.url", Message: `required because default_mode is "webhook"`},
			`webhook.url: required because default_mode is "webhook"`},
		{Problem{Path: "link_secret", Source: Source{Kind: SourceStored, Name: "d/link_secret"}, Message: "too short"},
			`link_secret: too short (from stored in d/link_secret)`},
		{Problem{Source: Source{Kind: SourceEnv, Name: "VMX_X"}, Message: "unknown environment variable VMX_X", Warning: true},
			`unknown environment variable VMX_X`},
	}
	for _, tc := range cases {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	ps := Problems{cases[0].p, {Path: "x", Message: "m", Hint: "do this", Warning: true}}
	want := "2 configuration problems:\n" + cases[0].want + "\nwarning: x: m\n\tdo this"
	if ps.Error() != want {
		t.Errorf("Problems.Error() =\n%s\nwant\n%s", ps.Error(), want)
	}
	if len(ps.Errors()) != 1 || len(ps.Warnings()) != 1 {
		t.Errorf("Errors/Warnings split wrong")
	}
}

func TestUnknownEnv(t *testing.T) {
	c := validConfig()
	l := newLoader(c)
	l.unknownEnv([]string{"VMX_S3_BUCKET=x", "VMX_LISTEN=:1", "VMX_SHARED_DIR=/s", "VMX_CONFIG=c", "VMX_TEST_PG=x", "HOME=/root", "VMX_FROBNICATE=1", "VMX_S3_BUCKET=y"})
	var got []string
	for _, p := range l.probs {
		if !p.Warning {
			t.Errorf("not a warning: %v", p)
		}
		got = append(got, p.Error())
	}
	want := []string{"unknown environment variable VMX_FROBNICATE", "unknown environment variable VMX_S3_BUCKET (did you mean VMX_BUCKET?)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// Warnings do not stop Load.
	env := map[string]string{"VMX_API_KEY": strings.Repeat("a", 32), "VMX_WEBHOOK_URL": "http://h/", "VMX_WEBHOOK_SECRET": strings.Repeat("s", 16), "VMX_DATA_DIR": t.TempDir()}
	c2, err := Load(Options{Getenv: envOf(env), Environ: func() []string { return []string{"VMX_TYPO=1"} }})
	if err != nil || len(c2.Problems().Warnings()) != 1 {
		t.Errorf("Load with a warning: %v", err)
	}
}

func TestDescribeRedacts(t *testing.T) {
	secrets := map[string]string{
		"VMX_API_KEY":        "api-key-0123456789-sekrit",
		"VMX_LINK_SECRET":    "link-secret-0123456789-0123456789-sekrit",
		"VMX_WEBHOOK_SECRET": "hook-secret-0123456789-sekrit",
		"VMX_DB":             "postgres://vmx:hunter2-sekrit@db:5432/vmx?sslmode=require&password=pw-sekrit",
		"VMX_WEBHOOK_URL":    "https://hooks.slack.com/services/T0000/B0000/abcd1234efgh5678sekrit?token=tok-sekrit",
	}
	c := Resolve(Options{Getenv: envOf(secrets), Flags: map[string]string{"s3.endpoint": "http://user:pw-sekrit@127.0.0.1:7070"}})
	var out bytes.Buffer
	if err := c.Describe(&out); err != nil {
		t.Fatal(err)
	}
	// Problems carry values too: make every secret problematic.
	c.APIAuth = "none"
	c.Webhook.Secret += " "
	out.WriteString(c.Problems().Error())
	if strings.Contains(out.String(), "sekrit") {
		i := strings.Index(out.String(), "sekrit")
		t.Errorf("secret printed at %q:\n%s", out.String()[max(0, i-40):i+6], out.String())
	}
	for _, want := range []string{
		"api_key  ", "(secret, 25 characters)", "env VMX_API_KEY",
		"postgres://vmx:xxxxx@db:5432/vmx?", "sslmode=require",
		"https://hooks.slack.com/services/T0000/B0000/abcdxxxxx?token=xxxxx",
		"http://user:xxxxx@127.0.0.1:7070", "flag --s3-endpoint",
		"configuration file: none",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Describe lacks %q:\n%s", want, out.String())
		}
	}
	// Unset secrets say so.
	out.Reset()
	Resolve(Options{Getenv: envOf(map[string]string{"VMX_DATA_DIR": t.TempDir()})}).Describe(&out)
	if !regexpLine(out.String(), "api_key", "(not set)", "default") {
		t.Errorf("unset api_key:\n%s", out.String())
	}
}

// regexpLine reports whether some line of s holds the words in order.
func regexpLine(s string, words ...string) bool {
	for line := range strings.SplitSeq(s, "\n") {
		rest, ok := line, true
		for _, w := range words {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(w):]
		}
		if ok {
			return true
		}
	}
	return false
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"http://127.0.0.1:4566":                    "http://127.0.0.1:4566",
		"postgres://u:p@h/db":                      "postgres://u:xxxxx@h/db",
		"postgres://u@h/db":                        "postgres://u@h/db",
		"https://h/x?sig=abc&v=1":                  "https://h/x?sig=xxxxx&v=1",
		"https://h/webhook/0123456789abcdefABCDEF": "https://h/webhook/0123xxxxx",
		"https://h/voicemail-notifications-team":   "https://h/voicemail-notifications-team",
		"postgres://u:p w@%zz@h/db":                "postgres://xxxxx@h/db",
	}
	for in, want := range cases {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLinkSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"VMX_DATA_DIR": dir}
	c := Resolve(Options{Getenv: envOf(env)})
	if c.LinkSecret != "" || !strings.Contains(c.Source("link_secret").String(), "generated into") {
		t.Fatalf("before: %q from %v", c.LinkSecret, c.Source("link_secret"))
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Resolve must not create data_dir")
	}
	created, err := c.EnsureLinkSecret()
	if err != nil || !created || len(c.LinkSecret) != 64 {
		t.Fatalf("EnsureLinkSecret = %v, %v; secret %d chars", created, err, len(c.LinkSecret))
	}
	st, err := os.Stat(c.LinkSecretPath())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", st, err)
	}
	if created, err := c.EnsureLinkSecret(); created || err != nil {
		t.Errorf("second EnsureLinkSecret = %v, %v", created, err)
	}
	// The next start reads it.
	c2 := Resolve(Options{Getenv: envOf(env)})
	if c2.LinkSecret != c.LinkSecret || c2.Source("link_secret") != (Source{Kind: SourceStored, Name: c.LinkSecretPath()}) {
		t.Errorf("stored secret not read: %v", c2.Source("link_secret"))
	}
	if created, err := c2.EnsureLinkSecret(); created || err != nil {
		t.Errorf("EnsureLinkSecret with a stored secret = %v, %v", created, err)
	}
	// Another process won the race: its secret is used, not replaced.
	c3 := Resolve(Options{Getenv: envOf(map[string]string{"VMX_DATA_DIR": dir + "2"})})
	os.MkdirAll(dir+"2", 0o700)
	os.WriteFile(c3.LinkSecretPath(), []byte(strings.Repeat("z", 40)+"\n"), 0o600)
	if created, err := c3.EnsureLinkSecret(); created || err != nil || c3.LinkSecret != strings.Repeat("z", 40) {
		t.Errorf("racing EnsureLinkSecret = %v, %v, %q", created, err, c3.LinkSecret)
	}
	// An explicit secret wins over the stored one.
	env["VMX_LINK_SECRET"] = strings.Repeat("e", 32)
	if c := Resolve(Options{Getenv: envOf(env)}); c.LinkSecret != env["VMX_LINK_SECRET"] || c.Source("link_secret").Kind != SourceEnv {
		t.Errorf("env link secret lost: %v", c.Source("link_secret"))
	}
	delete(env, "VMX_LINK_SECRET")
	// A readable-by-others file is a warning; a short one an error.
	os.Chmod(c.LinkSecretPath(), 0o644)
	os.WriteFile(c.LinkSecretPath(), []byte("short\n"), 0o644)
	ps := Resolve(Options{Getenv: envOf(env)}).Problems()
	var got []string
	for _, p := range ps {
		if p.Path == "link_secret" {
			got = append(got, p.Error())
		}
	}
	want := []string{
		"link_secret: " + c.LinkSecretPath() + " is readable by other users (mode -rw-r--r--) (from stored in " + c.LinkSecretPath() + ")",
		"link_secret: the stored secret has 5 characters, fewer than 32 (from stored in " + c.LinkSecretPath() + ")",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "Warn": slog.LevelWarn, "error": slog.LevelError} {
		if got := (&Config{LogLevel: in}).Level(); got != want {
			t.Errorf("Level(%q) = %v", in, got)
		}
	}
}

func TestKinesisStream(t *testing.T) {
	const arn = "arn:aws:kinesis:us-east-1:123456789012:stream/ctr"
	if k := (Kinesis{Stream: arn}); k.StreamARN() != arn || k.StreamName() != "" {
		t.Errorf("ARN: %q %q", k.StreamARN(), k.StreamName())
	}
	if k := (Kinesis{Stream: "ctr"}); k.StreamARN() != "" || k.StreamName() != "ctr" {
		t.Errorf("name: %q %q", k.StreamARN(), k.StreamName())
	}
}

func TestKinesisPosition(t *testing.T) {
	for in, want := range map[string]string{"latest": "LATEST", "LATEST": "LATEST", "trim_horizon": "TRIM_HORIZON", "Trim_Horizon": "TRIM_HORIZON"} {
		if got := (Kinesis{InitialPosition: in}).Position(); got != want {
			t.Errorf("Position(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestReferenceAndExample(t *testing.T) {
	var ref bytes.Buffer
	if err := Reference(&ref); err != nil {
		t.Fatal(err)
	}
	for _, f := range fields() {
		if !strings.Contains(ref.String(), "| `"+f.path+"` | `"+f.env[0]+"`") {
			t.Errorf("Reference lacks %s", f.path)
		}
		if f.def == "" && f.empty == "" {
			t.Errorf("%s documents no default", f.path)
		}
	}
	var ex bytes.Buffer
	if err := Example(&ex); err != nil {
		t.Fatal(err)
	}
	// As written, all commented out: no settings.
	c, ps := decodeOnly("example.yaml", ex.Bytes())
	if len(ps) > 0 {
		t.Errorf("example as written: %v", ps)
	}
	for _, f := range fields() {
		if c.Source(f.path).Kind != SourceDefault {
			t.Errorf("example as written sets %s", f.path)
		}
	}
	// Uncommented, it sets every key to its default.
	var lines []string
	for line := range strings.SplitSeq(ex.String(), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if strings.HasPrefix(trimmed, "#") && strings.Contains(trimmed, ":") && !strings.HasPrefix(trimmed, "# ") {
			line = line[:len(line)-len(trimmed)] + trimmed[1:]
		}
		lines = append(lines, line)
	}
	uncommented := strings.Join(lines, "\n")
	c, ps = decodeOnly("example.yaml", []byte(uncommented))
	if len(ps) > 0 {
		t.Fatalf("uncommented example: %v\n%s", ps, uncommented)
	}
	d := Default()
	for _, f := range fields() {
		if f.format(c) != f.format(d) {
			t.Errorf("example sets %s to %q, default is %q", f.path, f.format(c), f.format(d))
		}
	}
	if c.Source("listen").Kind != SourceFile || c.Source("api_key").Kind == SourceFile {
		t.Errorf("uncommented example should set listen, not api_key")
	}
}
