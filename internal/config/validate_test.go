package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidConfig(t *testing.T) {
	if ps := validConfig().Problems(); len(ps) > 0 {
		t.Fatalf("validConfig has problems:\n%v", ps)
	}
	if err := validConfig().Check(); err != nil {
		t.Fatal(err)
	}
}

// TestRules breaks each rule once, starting from a valid configuration.
// want is the path and message of the single problem expected, or "" for
// a value that must be accepted.
func TestRules(t *testing.T) {
	const queue = "arn:aws:connect:us-east-1:123456789012:instance/11111111-2222/queue/33333333-4444"
	fromEnv := func(c *Config, path string) { c.setSource(path, Source{Kind: SourceEnv, Name: "VMX_X"}) }
	cases := []struct {
		name    string
		mutate  func(c *Config)
		path    string
		msg     string
		warning bool
	}{
		{"data_dir empty", func(c *Config) { c.DataDir = "" }, "data_dir", "must not be empty", false},

		{"listen no port", func(c *Config) { c.Listen = "localhost" }, "listen", "must be host:port", false},
		{"listen bad port", func(c *Config) { c.Listen = ":99999" }, "listen", "port must be a number from 0 to 65535", false},
		{"listen named port", func(c *Config) { c.Listen = ":http" }, "listen", "port must be a number from 0 to 65535", false},
		{"listen any interface", func(c *Config) { c.Listen = ":8080" }, "", "", false},
		{"listen ipv6", func(c *Config) { c.Listen = "[::1]:8080" }, "", "", false},

		{"public_url scheme", func(c *Config) { c.PublicURL = "ftp://x" }, "public_url", "must be an http or https URL", false},
		{"public_url relative", func(c *Config) { c.PublicURL = "/vmx" }, "public_url", "must be an http or https URL", false},
		{"public_url query", func(c *Config) { c.PublicURL = "https://x/?a=1" }, "public_url", "must not have a query or fragment", false},
		{"public_url set empty", func(c *Config) { c.PublicURL = ""; fromEnv(c, "public_url") }, "public_url", "must not be empty", false},
		{"public_url underivable", func(c *Config) { c.PublicURL = "" }, "public_url", "cannot be derived from listen", false},
		{"public_url with path", func(c *Config) { c.PublicURL = "https://example.com/vmx" }, "", "", false},

		{"log_level", func(c *Config) { c.LogLevel = "verbose" }, "log_level", "must be one of debug, info, warn, error", false},
		{"log_level upper case", func(c *Config) { c.LogLevel = "DEBUG" }, "", "", false},

		{"db scheme", func(c *Config) { c.DB = "mysql://u@h/db" }, "db", `unsupported scheme "mysql" (want sqlite or postgres)`, false},
		{"db bare path", func(c *Config) { c.DB = "vmx.db" }, "db", "must be a URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB", false},
		{"db empty", func(c *Config) { c.DB = "" }, "db", "must not be empty", false},
		{"db sqlite no path", func(c *Config) { c.DB = "sqlite://?mode=memory" }, "db", "sqlite URL needs a file path", false},
		{"db postgres no host", func(c *Config) { c.DB = "postgres:///vmx" }, "db", "postgres URL needs a host", false},
		{"db postgres bad", func(c *Config) { c.DB = "postgres://u:p@h:port/x" }, "db", "invalid postgres URL", false},
		{"db postgres", func(c *Config) { c.DB = "postgresql://vmx:pw@localhost:5432/vmx?sslmode=disable" }, "", "", false},
		{"db postgres socket", func(c *Config) { c.DB = "postgres:///vmx?host=/run/postgresql" }, "", "", false},
		{"db sqlite absolute", func(c *Config) { c.DB = "sqlite:///var/lib/vmx/vmx.db" }, "", "", false},

		{"api_auth", func(c *Config) { c.APIAuth = "basic" }, "api_auth", "must be key or none", false},
		{"api_key missing", func(c *Config) { c.APIKey = "" }, "api_key", `required when api_auth is "key"`, false},
		{"api_key short", func(c *Config) { c.APIKey = "0123456789" }, "api_key", "must be at least 16 characters (has 10)", false},
		{"api_key newline", func(c *Config) { c.APIKey = strings.Repeat("k", 32) + "\n" }, "api_key", "must not begin or end with whitespace", false},
		{"api_key with auth none", func(c *Config) { c.APIAuth = "none" }, "api_key", `is set but api_auth is "none"`, false},
		{"auth none without key", func(c *Config) { c.APIAuth, c.APIKey = "none", "" }, "", "", false},

		{"link_secret short", func(c *Config) { c.LinkSecret = strings.Repeat("l", 31) }, "link_secret", "must be at least 32 characters (has 31)", false},
		{"link_secret stored short", func(c *Config) {
			c.LinkSecret = "x"
			c.setSource("link_secret", Source{Kind: SourceStored, Name: "d/link_secret"})
		}, "link_secret", "the stored secret has 1 characters, fewer than 32", false},
		{"link_secret unset", func(c *Config) { c.LinkSecret = "" }, "", "", false}, // generated at start

		{"default_mode empty", func(c *Config) { c.DefaultMode = " , " }, "default_mode", "must name a delivery mode", false},
		{"default_mode inbox", func(c *Config) { c.DefaultMode = "inbox" }, "", "", false},
		{"task without connect", func(c *Config) { c.DefaultMode = "task"; c.Connect.TaskFlowID = "f" }, "connect.enabled", `must be true because default_mode is "task"`, false},
		{"email without from", func(c *Config) { c.DefaultMode = "email"; c.SMTP.Host = "h" }, "email.from", `required because default_mode is "email"`, false},
		{"time zone", func(c *Config) { c.TimeZone = "Mars/Olympus" }, "time_zone", "must be an IANA time zone", false},
		{"salesforce both secrets", func(c *Config) {
			c.Salesforce = Salesforce{LoginURL: "https://x", ClientID: "i", ClientSecret: "s", PrivateKeyFile: "k", OwnerMatch: "alias"}
		}, "salesforce.client_secret", "set either salesforce.client_secret or salesforce.private_key_file (with salesforce.username)", false},
		{"summary without model", func(c *Config) { c.Summary.Enabled = true }, "summary.model_id", "required when summary.enabled is true", false},
		{"default_mode VMX name", func(c *Config) { c.DefaultMode = "AmazonConnectGuidedTask" }, "default_mode", `unknown mode "AmazonConnectGuidedTask"`, false},
		{"default_mode unknown", func(c *Config) { c.DefaultMode = "pigeon" }, "default_mode", `unknown mode "pigeon"`, false},
		{"default_mode list", func(c *Config) { c.DefaultMode = "webhook, webhook" }, "", "", false},

		{"prefixes empty", func(c *Config) { c.AttributePrefixes = nil }, "attribute_prefixes", "must list at least one prefix", false},
		{"prefixes chars", func(c *Config) { c.AttributePrefixes = []string{"vmx 3"} }, "attribute_prefixes", `prefix "vmx 3" may only contain letters, digits, _ and -`, false},
		{"prefixes twice", func(c *Config) { c.AttributePrefixes = []string{"a_", "b_", "a_"} }, "attribute_prefixes", `prefix "a_" is listed twice`, false},

		{"sherpa without model", func(c *Config) { c.Transcriber = "sherpa" }, "sherpa.model", "required when transcriber is sherpa", false},
		{"transcriber unknown", func(c *Config) { c.Transcriber = "whisper" }, "transcriber", "must be none, pocketsphinx, sherpa or aws", false},
		{"aws without bucket", func(c *Config) { c.Transcriber = "aws" }, "transcriber", "aws needs s3.bucket: Amazon Transcribe reads recordings from S3", false},
		{"speed", func(c *Config) { c.PocketSphinx.Speed = "warp" }, "pocketsphinx.speed", "must be fast, accurate or fastest", false},
		{"empty voicemails", func(c *Config) { c.EmptyVoicemails = "keep" }, "empty_voicemails", "must be deliver or drop", false},
		{"mask digits", func(c *Config) { c.Text.MaskDigits = 1 }, "text.mask_digits", "must be 0 (off) or at least 2", false},

		{"aws.region", func(c *Config) { c.AWS.Region = "US-EAST-1" }, "aws.region", "must be an AWS region like us-east-1", false},
		{"aws.region gov", func(c *Config) { c.AWS.Region = "us-gov-west-1" }, "", "", false},

		{"kvs.endpoint", func(c *Config) { c.KVS.Endpoint = "localhost:4568" }, "kvs.endpoint", "must be an http or https URL", false},
		{"kinesis.endpoint", func(c *Config) { c.Kinesis.Endpoint = "tcp://x" }, "kinesis.endpoint", "must be an http or https URL", false},
		{"s3.endpoint", func(c *Config) { c.S3.Bucket, c.S3.Endpoint = "vmx", "http://h:0" }, "s3.endpoint", "must be an http or https URL with a valid port", false},

		{"s3.bucket upper", func(c *Config) { c.S3.Bucket = "My_Bucket" }, "s3.bucket", "may only contain lowercase letters, digits, . and -", false},
		{"s3.bucket short", func(c *Config) { c.S3.Bucket = "ab" }, "s3.bucket", "must be 3 to 63 characters", false},
		{"s3.bucket edge", func(c *Config) { c.S3.Bucket = "vmx-" }, "s3.bucket", "must begin and end with a letter or digit", false},
		{"s3 without bucket", func(c *Config) { c.S3.PathStyle = true; fromEnv(c, "s3.path_style") }, "s3.path_style",
			"has no effect while s3.bucket is empty (recordings are stored under data_dir)", true},
		{"s3 full", func(c *Config) {
			c.S3 = S3{Bucket: "vmx.recordings-1", Endpoint: "http://127.0.0.1:7070", PathStyle: true}
		}, "", "", false},

		{"webhook.url missing", func(c *Config) { c.Webhook.URL = "" }, "webhook.url", `required because default_mode is "webhook"`, false},
		{"webhook.url scheme", func(c *Config) { c.Webhook.URL = "ftp://x" }, "webhook.url", "must be an http or https URL", false},
		{"webhook.url no host", func(c *Config) { c.Webhook.URL = "https:///x" }, "webhook.url", "must be an http or https URL", false},
		{"webhook.secret missing", func(c *Config) { c.Webhook.Secret = "" }, "webhook.secret", "required when webhook.url is set", false},
		{"webhook.secret short", func(c *Config) { c.Webhook.Secret = "abc" }, "webhook.secret", "must be at least 16 characters (has 3)", false},
		{"webhook.timeout zero", func(c *Config) { c.Webhook.Timeout = 0 }, "webhook.timeout", "must be > 0", false},

		{"language", func(c *Config) { c.Defaults.Language = "english" }, "defaults.language", "must be a language code like en-US", false},
		{"language empty", func(c *Config) { c.Defaults.Language = "" }, "defaults.language", "must be a language code like en-US", false},
		{"language script", func(c *Config) { c.Defaults.Language = "zh-Hans-CN" }, "", "", false},
		{"queue_arn", func(c *Config) { c.Defaults.QueueARN = "queue-1" }, "defaults.queue_arn", "must be an Amazon Connect queue ARN", false},
		{"queue_arn service", func(c *Config) { c.Defaults.QueueARN = strings.Replace(queue, ":connect:", ":sqs:", 1) }, "defaults.queue_arn", "must be an Amazon Connect queue ARN", false},
		{"queue_arn ok", func(c *Config) { c.Defaults.QueueARN = queue }, "", "", false},
		{"queue_arn agent", func(c *Config) { c.Defaults.QueueARN = strings.Replace(queue, "/queue/", "/queue/agent/", 1) }, "", "", false},

		{"retention.days negative", func(c *Config) { c.Retention.Days = -1 }, "retention.days", "must be >= 0", false},
		{"retention.days huge", func(c *Config) { c.Retention.Days = 36501 }, "retention.days", "must be at most 36500", false},
		{"retention.interval", func(c *Config) { c.Retention.Interval = 30 * time.Second }, "retention.interval", "must be at least 1m", false},

		{"kinesis no stream", func(c *Config) { c.Kinesis.Enabled = true }, "kinesis.stream", "required when kinesis.enabled is true", false},
		{"kinesis.stream name", func(c *Config) { c.Kinesis.Stream = "ctr stream" }, "kinesis.stream", "must be a Kinesis stream name or ARN", false},
		{"kinesis.stream arn", func(c *Config) { c.Kinesis.Stream = "arn:aws:kinesis:us-east-1:123456789012:table/x" }, "kinesis.stream", "must be a Kinesis stream name or ARN", false},
		{"kinesis.stream ok", func(c *Config) {
			c.Kinesis.Enabled, c.Kinesis.Stream = true, "arn:aws-us-gov:kinesis:us-gov-west-1:123456789012:stream/ctr.v1"
		}, "", "", false},
		{"initial_position", func(c *Config) { c.Kinesis.InitialPosition = "earliest" }, "kinesis.initial_position", "must be latest or trim_horizon", false},
		{"initial_position time", func(c *Config) { c.Kinesis.InitialPosition = "2026-01-02T15:04:05Z" }, "kinesis.initial_position", "must be latest or trim_horizon", false},
		{"initial_position upper", func(c *Config) { c.Kinesis.InitialPosition = "TRIM_HORIZON" }, "", "", false},

		{"jobs.workers", func(c *Config) { c.Jobs.Workers = 0 }, "jobs.workers", "must be >= 1", false},
		{"jobs.max_attempts", func(c *Config) { c.Jobs.MaxAttempts = 0 }, "jobs.max_attempts", "must be >= 1", false},
		{"ivr.recording_wait", func(c *Config) { c.IVR.RecordingWait = -time.Second }, "ivr.recording_wait", "must be > 0", false},
		{"presign_ttl zero", func(c *Config) { c.Links.PresignTTL = 0 }, "links.presign_ttl", "must be between 1s and 7d (the longest S3 allows)", false},
		{"presign_ttl long", func(c *Config) { c.Links.PresignTTL = 7*day + 1 }, "links.presign_ttl", "must be between 1s and 7d (the longest S3 allows)", false},
		{"presign_ttl max", func(c *Config) { c.Links.PresignTTL = 7 * day }, "", "", false},
		{"links.lifetime", func(c *Config) { c.Links.Lifetime = -time.Hour }, "links.lifetime", "must be >= 0", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			ps := c.Problems()
			if tc.path == "" {
				if len(ps) > 0 {
					t.Fatalf("unexpected problems:\n%v", ps)
				}
				return
			}
			if len(ps) != 1 {
				t.Fatalf("want one problem at %s, got %d:\n%v", tc.path, len(ps), ps)
			}
			p := ps[0]
			if p.Path != tc.path || !strings.HasPrefix(p.Message, tc.msg) || p.Warning != tc.warning {
				t.Errorf("got %s (warning %v), want %s: %s (warning %v)", p.Error(), p.Warning, tc.path, tc.msg, tc.warning)
			}
			if err := c.Check(); (err == nil) != tc.warning {
				t.Errorf("Check() = %v", err)
			}
		})
	}
}

func TestParseDB(t *testing.T) {
	cases := map[string]Database{
		"sqlite://vmx-data/vmx.db":              {"sqlite", "vmx-data/vmx.db"},
		"sqlite:///var/lib/vmx.db?_pragma=x":    {"sqlite", "/var/lib/vmx.db?_pragma=x"},
		"sqlite://:memory:":                     {"sqlite", ":memory:"},
		"SQLITE://a.db":                         {"sqlite", "a.db"},
		"postgres://vmx:pw@localhost:5432/vmx":  {"postgres", "postgres://vmx:pw@localhost:5432/vmx"},
		"postgresql://h/db?sslmode=verify-full": {"postgres", "postgresql://h/db?sslmode=verify-full"},
	}
	for in, want := range cases {
		if got, err := ParseDB(in); err != nil || got != want {
			t.Errorf("ParseDB(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	// Errors never repeat a password.
	if _, err := ParseDB("postgres://u:pass word@h:x/db"); err == nil || strings.Contains(err.Error(), "pass") {
		t.Errorf("ParseDB error = %v", err)
	}
}
