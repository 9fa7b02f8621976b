package config

import (
	"cmp"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Config is vmx serve's whole configuration. Every setting is optional and
// has a documented default (see Reference). Build one with Load, Resolve or
// Default; tests may also fill one in directly and call Check.
type Config struct {
	// DataDir holds the SQLite database, recordings stored as local files
	// and the generated link secret.
	DataDir string
	// Listen is the HTTP server's host:port.
	Listen string
	// PublicURL is the base of links vmx hands out (media links), without a
	// trailing slash.
	PublicURL string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// DB selects the database: sqlite://PATH or postgres://…; see Database.
	DB string
	// APIAuth is "key" (requests must carry APIKey) or "none".
	APIAuth string
	// APIKey authenticates API clients when APIAuth is "key". Secret.
	APIKey string
	// LinkSecret is the HMAC key that signs media links. Secret.
	LinkSecret string
	// DefaultMode is the delivery mode of contacts that set none: one mode
	// or a comma-separated list.
	DefaultMode string
	// AttributePrefixes are the contact-attribute prefixes vmx reads, in
	// order of preference.
	AttributePrefixes []string
	// Transcriber names the speech-to-text engine; "none" skips it.
	Transcriber string

	AWS       AWS
	KVS       KVS
	S3        S3
	Webhook   Webhook
	Defaults  Defaults
	Retention Retention
	Kinesis   Kinesis
	Jobs      Jobs
	IVR       IVR
	Links     Links

	PocketSphinx PocketSphinx
	Sherpa       Sherpa
	Transcribe   Transcribe
	VAD          VAD
	Text         Text
	// TimeZone is the contact centre's IANA zone: times shown to people.
	TimeZone   string
	Connect    Connect
	Email      Email
	SMTP       SMTP
	SES        SES
	Salesforce Salesforce
	Summary    Summary
	Recording  Recording
	Live       Live
	Lambda     Lambda
	// EmptyVoicemails says what becomes of a voicemail without speech
	// (the caller hung up without speaking): "deliver" marked empty, or
	// "drop": not delivered, its contact finalized.
	EmptyVoicemails string

	file     string            // configuration file read, if any
	sources  map[string]Source // by dotted path; absent = default
	problems Problems          // found while loading
}

// AWS holds settings shared by the AWS clients.
type AWS struct {
	// Region; empty leaves it to the AWS SDK (AWS_REGION, ~/.aws/config).
	Region string
}

// KVS configures the Kinesis Video Streams client.
type KVS struct {
	// Endpoint overrides the control-plane endpoint, e.g. a vmx kvs-sim.
	Endpoint string
}

// S3 configures the blob store. An empty Bucket stores recordings as files
// under DataDir.
type S3 struct {
	Bucket    string
	Endpoint  string // S3-compatible server instead of AWS
	PathStyle bool   // path-style addressing (most S3-compatible servers)
}

// Webhook configures delivery by signed HTTP POST.
type Webhook struct {
	URL     string
	Secret  string // HMAC key for the signature header. Secret.
	Timeout time.Duration
}

// Defaults fill in what a contact's attributes leave out.
type Defaults struct {
	Language string // Transcribe language code
	QueueARN string
}

// Retention controls how long voicemails are kept.
type Retention struct {
	Days     int           // 0 keeps them forever
	Interval time.Duration // how often expired voicemails are removed
}

// Kinesis configures the contact-record consumer.
type Kinesis struct {
	Enabled  bool
	Stream   string // name or ARN
	Endpoint string
	// InitialPosition is where a shard without a checkpoint is read from:
	// "latest" or "trim_horizon", in any case.
	InitialPosition string
}

// StreamARN returns Stream if it is an ARN, else "".
func (k Kinesis) StreamARN() string {
	if strings.HasPrefix(k.Stream, "arn:") {
		return k.Stream
	}
	return ""
}

// StreamName returns Stream if it is a name rather than an ARN, else "".
func (k Kinesis) StreamName() string {
	if strings.HasPrefix(k.Stream, "arn:") {
		return ""
	}
	return k.Stream
}

// Position returns InitialPosition as a Kinesis shard-iterator type,
// "LATEST" or "TRIM_HORIZON" (the values of kinesis.InitialPosition).
func (k Kinesis) Position() string {
	if strings.EqualFold(k.InitialPosition, "trim_horizon") {
		return "TRIM_HORIZON"
	}
	return "LATEST"
}

// Jobs configures the durable job runner.
type Jobs struct {
	Workers     int           // jobs worked at once
	MaxAttempts int           // attempts before a job is given up
	RescueAfter time.Duration // a running job older than this is taken for dead
}

// IVR configures voicemails recorded by the IVR (Voicemail Express 2025
// style) rather than streamed to Kinesis Video.
type IVR struct {
	// RecordingWait is how long to wait for the contact's recording to
	// appear in S3 before giving up.
	RecordingWait time.Duration
}

// PocketSphinx configures the embedded speech-to-text engine.
type PocketSphinx struct {
	ModelDir string // Debian's pocketsphinx-en-us model directory
	DomainLM string // builtin, none, or a voicemail language model file interpolated with the general one
	Speed    string // fast, accurate or fastest
}

// Sherpa configures the sherpa-onnx engine: an operator-supplied model.
type Sherpa struct {
	Model                    string // whisper, transducer or paraformer
	Encoder, Decoder, Joiner string
	ModelFile                string // Paraformer's one file
	Tokens                   string
	Language                 string
	NumThreads               int
	DecodingMethod           string
}

// Transcribe configures the Amazon Transcribe engine.
type Transcribe struct {
	Vocabulary       string // custom vocabulary name
	RedactPII        bool
	IdentifyLanguage bool
	OutputKMSKey     string // KMS key of Transcribe's output
}

// VAD configures voice activity detection.
type VAD struct {
	SileroModel string // silero_vad.onnx; empty: the energy detector
}

// Text configures what is done with transcripts before delivery.
type Text struct {
	CallbackNumber bool // extract a spoken callback number into digits
	MaskDigits     int  // mask runs of at least this many digits; 0 off
	MaskKeep       int  // digits left visible at the end of a masked run
}

// Connect configures the Amazon Connect API: routing lookups, tasks and
// the flag reset.
type Connect struct {
	Enabled               bool
	Endpoint              string
	TaskFlowID            string
	TaskTemplateID        string
	GuidedTaskFlowID      string
	AgentEmailField       string // Email, SecondaryEmail or Username
	AgentFallbackQueueARN string
	CacheTTL              time.Duration
	GuidedLinkTTL         time.Duration
	ResetFlag             bool
}

// Email configures the e-mail mode.
type Email struct {
	Transport       string // smtp or ses
	From            string
	To              []string
	AllowedDomains  []string
	TemplateDir     string
	Attach          string // attach, link or both
	MaxAttachmentMB int
}

// SMTP configures the SMTP transport.
type SMTP struct {
	Host     string
	Port     int // 0: by TLS mode
	TLS      string
	Username string
	Password string // Secret.
	CAFile   string
}

// SES configures the Amazon SES transport.
type SES struct {
	ConfigurationSet string
	Endpoint         string
}

// Salesforce configures the sfcase and sfother modes.
type Salesforce struct {
	LoginURL       string
	ClientID       string
	ClientSecret   string // Secret.
	Username       string
	PrivateKeyFile string
	CAFile         string
	OtherObject    string
	OtherFields    []string // ROLE=Field
	DedupeField    string
	OwnerMatch     string
}

// Summary configures transcript summaries by Amazon Bedrock.
type Summary struct {
	Enabled   bool
	ModelID   string
	Region    string
	Endpoint  string
	MaxTokens int
}

// Recording configures call recording.
type Recording struct {
	KeyPrefix              string
	StartSelector          string // NOW or FRAGMENT_NUMBER
	MaxDuration            time.Duration
	MaxConcurrent          int
	SavePartialTranscripts bool
}

// Live configures the live transcription API and its one target.
type Live struct {
	TargetURL                string
	TargetSecretName         string
	TargetSecret             string // Secret.
	TargetSecretIn           string // header or query
	TargetCAFile             string
	TargetCertFile           string
	TargetKeyFile            string
	TargetOAuth2TokenURL     string
	TargetOAuth2ClientID     string
	TargetOAuth2ClientSecret string // Secret.
	TargetTimeout            time.Duration
	TargetQueueSize          int
	Redaction                bool
	MaxConversations         int
	Heartbeat                time.Duration
	StopPoll                 time.Duration
	StaleAfter               time.Duration
	Feed                     bool
}

// Lambda configures vmx running as AWS Lambda functions, where the
// voicemails' state lives in DynamoDB and their pipeline steps travel on
// SQS instead of the database and River of vmx serve.
type Lambda struct {
	Table         string // DynamoDB table of voicemails
	StepQueue     string // URL of the SQS queue of pipeline steps
	LinkSecretARN string // Secrets Manager secret holding the link HMAC key
}

// Links configures links to recordings.
type Links struct {
	PresignTTL time.Duration // lifetime of a presigned S3 URL a media link redirects to
	Lifetime   time.Duration // 0: a link works as long as the recording is retained
}

// Options says where Load finds configuration besides the defaults.
type Options struct {
	// File is the YAML file to read. Empty means $VMX_CONFIG, and no file
	// at all when that is unset too. A named file that is missing is a
	// problem.
	File string
	// Getenv looks up environment variables; nil reads none. An empty
	// value counts as unset.
	Getenv func(string) string
	// Environ, if set, lists the environment as KEY=VALUE so that unknown
	// VMX_ variables (typos) are reported as warnings.
	Environ func() []string
	// Flags maps dotted keys to values given on the command line; they win
	// over everything else. Flags.Values returns the flags a user set.
	Flags map[string]string
}

// Default returns the configuration with every setting at its default.
func Default() *Config {
	c := &Config{
		DataDir:           "./vmx-data",
		Listen:            "127.0.0.1:8080",
		LogLevel:          "info",
		APIAuth:           "key",
		DefaultMode:       "webhook",
		AttributePrefixes: []string{"vmx3_", "vmx_", "vm_"},
		Transcriber:       "none",
		Webhook:           Webhook{Timeout: 10 * time.Second},
		Defaults:          Defaults{Language: "en-US"},
		Retention:         Retention{Interval: time.Hour},
		Kinesis:           Kinesis{InitialPosition: "latest"},
		Jobs:              Jobs{Workers: runtime.NumCPU(), MaxAttempts: 10, RescueAfter: 2 * time.Minute},
		IVR:               IVR{RecordingWait: 10 * time.Minute},
		Links:             Links{PresignTTL: 5 * time.Minute},
		PocketSphinx:      PocketSphinx{ModelDir: "/usr/share/pocketsphinx/model/en-us", DomainLM: "none", Speed: "fast"},
		Text:              Text{CallbackNumber: true, MaskKeep: 4},
		Sherpa:            Sherpa{Language: "en", NumThreads: 1, DecodingMethod: "greedy_search"},
		EmptyVoicemails:   "deliver",
		TimeZone:          "UTC",
		Connect:           Connect{AgentEmailField: "Email", CacheTTL: 5 * time.Minute, GuidedLinkTTL: 10 * time.Minute},
		Email:             Email{Transport: "smtp", Attach: "both", MaxAttachmentMB: 10},
		SMTP:              SMTP{TLS: "starttls"},
		Salesforce:        Salesforce{OwnerMatch: "alias"},
		Summary:           Summary{MaxTokens: 300},
		Recording:         Recording{KeyPrefix: "call-recordings/", StartSelector: "FRAGMENT_NUMBER", MaxDuration: 2 * time.Hour, MaxConcurrent: 50},
		Live: Live{TargetSecretName: "X-Api-Key", TargetSecretIn: "header", TargetTimeout: 5 * time.Second, TargetQueueSize: 1000, Redaction: true, MaxConversations: 100,
			Heartbeat: 2 * time.Second, StopPoll: 500 * time.Millisecond, StaleAfter: 10 * time.Second},
		sources: map[string]Source{},
	}
	c.derive()
	return c
}

// Load reads the configuration from the defaults, the file, the
// environment and the flags, in increasing precedence, and checks it. The
// error, if any, is a Problems holding every problem found. Warnings do not
// make Load fail; Problems returns them.
func Load(opts Options) (*Config, error) {
	c := Resolve(opts)
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// Resolve is Load without the final check: it always returns the
// configuration, with whatever could not be read left at the layer below,
// so that vmx config check can describe it and list its Problems.
func Resolve(opts Options) *Config {
	c := Default()
	l := newLoader(c)
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	file, fileSrc := opts.File, Source{Kind: SourceFlag, Name: "config"}
	if file == "" {
		file, fileSrc = getenv("VMX_CONFIG"), Source{Kind: SourceEnv, Name: "VMX_CONFIG"}
	}
	if file != "" {
		c.file = file
		data, err := os.ReadFile(file)
		if err != nil {
			msg := "cannot read configuration file: " + err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				msg = "configuration file " + file + " does not exist"
			}
			l.add(Problem{Source: fileSrc, Message: msg, Hint: "check the path, or leave it unset to run without a file"})
		} else {
			l.decodeYAML(file, data)
		}
	}
	l.applyEnv(getenv)
	if opts.Environ != nil {
		l.unknownEnv(opts.Environ())
	}
	l.applyFlags(opts.Flags)
	c.derive()
	l.readStoredLinkSecret()
	c.problems = l.probs
	return c
}

// Level returns LogLevel as a slog level; info if it is not one.
func (c *Config) Level() slog.Level {
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// File returns the configuration file that was read, or "".
func (c *Config) File() string { return c.file }

// Source returns where the value of the setting at path came from.
func (c *Config) Source(path string) Source {
	if s, ok := c.sources[path]; ok {
		return s
	}
	return Source{Kind: SourceDefault}
}

func (c *Config) setSource(path string, s Source) {
	if c.sources == nil {
		c.sources = map[string]Source{}
	}
	c.sources[path] = s
}

// derive fills defaults computed from other settings, for those still at
// their default.
func (c *Config) derive() {
	if c.Source("db").Kind == SourceDefault {
		c.DB = defaultDB(c.DataDir)
		c.setSource("db", Source{Name: "from data_dir"})
	}
	if c.Source("public_url").Kind == SourceDefault {
		c.PublicURL = defaultPublicURL(c.Listen)
		c.setSource("public_url", Source{Name: "from listen"})
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.Source("kinesis.enabled").Kind == SourceDefault {
		c.Kinesis.Enabled = c.Kinesis.Stream != ""
		c.setSource("kinesis.enabled", Source{Name: "true when kinesis.stream is set"})
	}
	if c.Source("connect.reset_flag").Kind == SourceDefault {
		c.Connect.ResetFlag = c.Connect.Enabled
		c.setSource("connect.reset_flag", Source{Name: "true when connect.enabled"})
	}
}

// Location returns the TimeZone's location; UTC when it is not valid
// (Check reports that).
func (c *Config) Location() *time.Location {
	if loc, err := time.LoadLocation(c.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

func defaultDB(dataDir string) string {
	if dataDir == "" {
		return ""
	}
	return "sqlite://" + filepath.ToSlash(filepath.Join(dataDir, "vmx.db"))
}

// defaultPublicURL is http://HOST:PORT of listen, with localhost for a
// wildcard host.
func defaultPublicURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Problems returns every problem with the configuration: those found while
// loading it and those its current values have, errors and warnings
// together, in the order of the keys.
func (c *Config) Problems() Problems {
	ps := slices.Clone(c.problems)
	ps = append(ps, validate(c)...)
	order := map[string]int{}
	for i, f := range fields() {
		order[f.path] = i + 1
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(order[a.Path], order[b.Path]) })
	return ps
}

// Check returns nil when the configuration has no problems other than
// warnings, and otherwise a Problems holding all of them.
func (c *Config) Check() error {
	ps := c.Problems()
	if len(ps.Errors()) == 0 {
		return nil
	}
	return ps
}
