package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/arn"
)

// Database is the parsed db setting.
type Database struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// DSN is, for sqlite, the file path with any ?query kept (":memory:"
	// for an in-memory database), and for postgres the URL as given.
	DSN string
}

// ParseDB parses a db setting: sqlite://PATH (relative, or sqlite:///abs)
// or postgres://… (postgresql:// also works).
func ParseDB(s string) (Database, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if s == "" {
			return Database{}, errors.New("must not be empty")
		}
		return Database{}, errors.New("must be a URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB")
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		path, _, _ := strings.Cut(rest, "?")
		if path == "" {
			return Database{}, errors.New("sqlite URL needs a file path, like sqlite://vmx-data/vmx.db")
		}
		return Database{Driver: "sqlite", DSN: rest}, nil
	case "postgres", "postgresql":
		u, err := url.Parse(s)
		if err != nil {
			return Database{}, fmt.Errorf("invalid postgres URL: %v", stripURLError(err))
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return Database{}, errors.New("postgres URL needs a host, like postgres://vmx:PASSWORD@localhost/vmx")
		}
		return Database{Driver: "postgres", DSN: s}, nil
	}
	return Database{}, fmt.Errorf("unsupported scheme %q (want sqlite or postgres)", scheme)
}

// Database returns the parsed db setting; it is the zero Database when db
// is invalid, which Check reports.
func (c *Config) Database() Database {
	d, _ := ParseDB(c.DB)
	return d
}

// stripURLError drops the quoted URL from a url.Error so that a password in
// it is not printed.
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Modes a contact or default_mode may name.
func availableModes() []string {
	return []string{"inbox", "webhook", "task", "guided_task", "email", "sfcase", "sfother"}
}

// checker collects the problems of a Config's current values.
type checker struct {
	c      *Config
	byPath map[string]*field
	out    Problems
}

// bad reports that the value at path breaks a rule.
func (k *checker) bad(path, msg, hint string) {
	k.report(path, msg, hint, false)
}

// warn reports a value that works but is probably not what was meant.
func (k *checker) warn(path, msg, hint string) {
	k.report(path, msg, hint, true)
}

func (k *checker) report(path, msg, hint string, warning bool) {
	f := k.byPath[path]
	p := Problem{Path: path, Source: k.c.Source(path), Message: msg, Hint: hint, Warning: warning}
	if f != nil {
		p.Value = f.display(k.c)
		if f.secret {
			p.Value = ""
		}
	}
	k.out = append(k.out, p)
}

// howToSet names the ways to set the setting at path.
func (k *checker) howToSet(path string) string {
	f := k.byPath[path]
	ways := []string{path + " in the configuration file"}
	if f != nil {
		ways = append(ways, f.env[0])
		if f.flag != "" {
			ways = append(ways, "--"+f.flag)
		}
	}
	return strings.Join(ways, ", ")
}

// validate checks every rule against c's current values.
func validate(c *Config) Problems {
	k := &checker{c: c, byPath: fieldMap(fields())}

	if c.DataDir == "" {
		k.bad("data_dir", "must not be empty", "set a directory vmx may write to, e.g. ./vmx-data")
	}
	listenOK := true
	if err := checkHostPort(c.Listen); err != nil {
		listenOK = false
		k.bad("listen", err.Error(), "write host:port, e.g. 127.0.0.1:8080, or :8080 for every interface")
	}
	switch {
	case c.PublicURL == "" && c.Source("public_url").Kind == SourceDefault:
		if listenOK {
			k.bad("public_url", "cannot be derived from listen", "set public_url to the URL recipients reach vmx at")
		}
	case c.PublicURL == "":
		k.bad("public_url", "must not be empty", "set it to the URL recipients reach vmx at, or unset it to derive it from listen")
	default:
		if err := checkHTTPURL(c.PublicURL); err != nil {
			k.bad("public_url", err.Error(), "e.g. https://vmx.example.com")
		} else if u, _ := url.Parse(c.PublicURL); u.RawQuery != "" || u.Fragment != "" {
			k.bad("public_url", "must not have a query or fragment", "give the base URL only, e.g. https://vmx.example.com/vmx")
		}
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.LogLevel)) {
		k.bad("log_level", "must be one of debug, info, warn, error", "")
	}
	if _, err := ParseDB(c.DB); err != nil {
		k.bad("db", err.Error(), "e.g. sqlite://vmx-data/vmx.db or postgres://vmx:PASSWORD@localhost:5432/vmx")
	}

	switch c.APIAuth {
	case "key":
		switch {
		case c.APIKey == "":
			k.bad("api_key", "required when api_auth is \"key\"",
				"set VMX_API_KEY to a random string of at least 16 characters (e.g. the output of openssl rand -hex 32), "+
					"or set api_auth: none to serve the API without authentication")
		default:
			k.checkSecret("api_key", c.APIKey, 16)
		}
	case "none":
		if c.APIKey != "" {
			k.bad("api_key", "is set but api_auth is \"none\", so it would be ignored",
				"unset api_key, or set api_auth: key to require it")
		}
	default:
		k.bad("api_auth", "must be key or none", "")
	}
	if c.LinkSecret != "" {
		if s := c.Source("link_secret"); s.Kind == SourceStored && len(c.LinkSecret) < 32 {
			k.bad("link_secret", fmt.Sprintf("the stored secret has %d characters, fewer than 32", len(c.LinkSecret)),
				"delete "+s.Name+" to have vmx generate a new one (media links already sent stop working)")
		} else {
			k.checkSecret("link_secret", c.LinkSecret, 32)
		}
	}

	modes := k.checkModes(c.DefaultMode)
	k.checkPrefixes(c.AttributePrefixes)
	switch c.Transcriber {
	case "none", "pocketsphinx":
	case "aws":
		if c.S3.Bucket == "" {
			k.bad("transcriber", "aws needs s3.bucket: Amazon Transcribe reads recordings from S3", "set s3.bucket")
		}
		if c.Transcribe.RedactPII && c.Transcribe.IdentifyLanguage {
			k.bad("transcribe.identify_language", "Amazon Transcribe cannot identify the language of a redacted job", "turn off transcribe.redact_pii or transcribe.identify_language")
		}
	case "sherpa":
		if c.Sherpa.Model == "" {
			k.bad("sherpa.model", "required when transcriber is sherpa", "whisper, transducer or paraformer, with the model's files in sherpa.encoder, sherpa.decoder, … ")
		}
	default:
		k.bad("transcriber", "must be none, pocketsphinx, sherpa or aws", "")
	}
	if c.Sherpa.Model != "" {
		k.oneOf("sherpa.model", c.Sherpa.Model, "whisper", "transducer", "paraformer")
	}
	if c.Sherpa.NumThreads < 1 || c.Sherpa.NumThreads > 64 {
		k.bad("sherpa.num_threads", "must be between 1 and 64", "")
	}
	k.oneOf("pocketsphinx.speed", c.PocketSphinx.Speed, "fast", "accurate", "fastest")
	k.oneOf("empty_voicemails", c.EmptyVoicemails, "deliver", "drop")
	if c.Text.MaskDigits < 0 || c.Text.MaskDigits == 1 {
		k.bad("text.mask_digits", "must be 0 (off) or at least 2", "")
	}
	if c.Text.MaskKeep < 0 {
		k.bad("text.mask_keep", "must be >= 0", "")
	}

	if c.AWS.Region != "" && !arn.IsRegion(c.AWS.Region) {
		k.bad("aws.region", "must be an AWS region like us-east-1", "")
	}
	k.checkEndpoint("kvs.endpoint", c.KVS.Endpoint)
	k.checkEndpoint("s3.endpoint", c.S3.Endpoint)
	k.checkEndpoint("kinesis.endpoint", c.Kinesis.Endpoint)

	if c.S3.Bucket != "" {
		if err := checkBucket(c.S3.Bucket); err != nil {
			k.bad("s3.bucket", err.Error(), "")
		}
	} else {
		for _, p := range []string{"s3.endpoint", "s3.path_style"} {
			if c.Source(p).Kind != SourceDefault {
				k.warn(p, "has no effect while s3.bucket is empty (recordings are stored under data_dir)",
					"set s3.bucket ("+k.howToSet("s3.bucket")+") to store recordings in S3")
			}
		}
	}

	switch {
	case c.Webhook.URL == "" && slices.Contains(modes, "webhook"):
		k.bad("webhook.url", fmt.Sprintf("required because default_mode is %q", c.DefaultMode),
			"set "+k.howToSet("webhook.url")+" to the endpoint that receives voicemails")
	case c.Webhook.URL != "":
		if err := checkHTTPURL(c.Webhook.URL); err != nil {
			k.bad("webhook.url", err.Error(), "e.g. https://example.com/hooks/voicemail")
		}
		if c.Webhook.Secret == "" {
			k.bad("webhook.secret", "required when webhook.url is set",
				"set VMX_WEBHOOK_SECRET to a random string of at least 16 characters; the receiver uses it to check each request's signature")
		}
	}
	if c.Webhook.Secret != "" {
		k.checkSecret("webhook.secret", c.Webhook.Secret, 16)
	}
	if c.Webhook.Timeout <= 0 {
		k.bad("webhook.timeout", "must be > 0", "e.g. 10s")
	}

	k.checkDelivery(modes)
	k.checkCalls()

	if !validLanguage(c.Defaults.Language) {
		k.bad("defaults.language", "must be a language code like en-US", "use an Amazon Transcribe language code")
	}
	if c.Defaults.QueueARN != "" && !isQueueARN(c.Defaults.QueueARN) {
		k.bad("defaults.queue_arn", "must be an Amazon Connect queue ARN",
			"like arn:aws:connect:us-east-1:123456789012:instance/INSTANCE-ID/queue/QUEUE-ID")
	}

	switch {
	case c.Retention.Days < 0:
		k.bad("retention.days", "must be >= 0", "0 keeps voicemails forever")
	case c.Retention.Days > 36500:
		k.bad("retention.days", "must be at most 36500", "0 keeps voicemails forever")
	}
	if c.Retention.Interval < time.Minute {
		k.bad("retention.interval", "must be at least 1m", "e.g. 1h")
	}

	if c.Kinesis.Enabled && c.Kinesis.Stream == "" {
		k.bad("kinesis.stream", "required when kinesis.enabled is true",
			"set "+k.howToSet("kinesis.stream")+" to the stream's name or ARN, or set kinesis.enabled: false")
	}
	if c.Kinesis.Stream != "" && !validStream(c.Kinesis.Stream) {
		k.bad("kinesis.stream", "must be a Kinesis stream name or ARN",
			"like ctr-stream or arn:aws:kinesis:us-east-1:123456789012:stream/ctr-stream")
	}
	if !strings.EqualFold(c.Kinesis.InitialPosition, "latest") && !strings.EqualFold(c.Kinesis.InitialPosition, "trim_horizon") {
		k.bad("kinesis.initial_position", "must be latest or trim_horizon", "")
	}

	if c.Jobs.Workers < 1 {
		k.bad("jobs.workers", "must be >= 1", "")
	}
	if c.Jobs.MaxAttempts < 1 {
		k.bad("jobs.max_attempts", "must be >= 1", "")
	}
	if c.Jobs.RescueAfter < time.Second {
		k.bad("jobs.rescue_after", "must be at least 1s", "e.g. 2m")
	}
	if c.IVR.RecordingWait <= 0 {
		k.bad("ivr.recording_wait", "must be > 0", "e.g. 10m")
	}
	if c.Links.PresignTTL < time.Second || c.Links.PresignTTL > 7*day {
		k.bad("links.presign_ttl", "must be between 1s and 7d (the longest S3 allows)", "e.g. 5m")
	}
	if c.Links.Lifetime < 0 {
		k.bad("links.lifetime", "must be >= 0", "0 lets links work as long as the recording is kept")
	}
	return k.out
}

// checkDelivery checks what the delivery modes need: a mode used by
// default_mode must have its settings; a contact naming an unconfigured
// mode fails with a clear error at run time.
func (k *checker) checkDelivery(modes []string) {
	c := k.c
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		k.bad("time_zone", "must be an IANA time zone", "e.g. UTC, America/New_York or Europe/London")
	}
	uses := func(m string) bool { return slices.Contains(modes, m) }
	for _, m := range []string{"task", "guided_task"} {
		if uses(m) && !c.Connect.Enabled {
			k.bad("connect.enabled", fmt.Sprintf("must be true because default_mode is %q", c.DefaultMode), "tasks are created with the Amazon Connect API")
		}
	}
	if uses("task") && c.Connect.TaskFlowID == "" && c.Connect.TaskTemplateID == "" {
		k.bad("connect.task_flow_id", fmt.Sprintf("required because default_mode is %q", c.DefaultMode), "or set connect.task_template_id")
	}
	if uses("guided_task") && c.Connect.GuidedTaskFlowID == "" {
		k.bad("connect.guided_task_flow_id", fmt.Sprintf("required because default_mode is %q", c.DefaultMode), "the flow that shows the agent the voicemail")
	}
	if c.Connect.Endpoint != "" {
		k.checkEndpoint("connect.endpoint", c.Connect.Endpoint)
	}
	k.oneOf("connect.agent_email_field", c.Connect.AgentEmailField, "Email", "SecondaryEmail", "Username")
	if c.Connect.AgentFallbackQueueARN != "" && !isQueueARN(c.Connect.AgentFallbackQueueARN) {
		k.bad("connect.agent_fallback_queue_arn", "must be an Amazon Connect queue ARN", "")
	}
	if c.Connect.CacheTTL < 0 {
		k.bad("connect.cache_ttl", "must be >= 0", "0 turns the cache off")
	}
	if c.Connect.GuidedLinkTTL < time.Minute {
		k.bad("connect.guided_link_ttl", "must be at least 1m", "e.g. 10m")
	}
	if c.Connect.ResetFlag && !c.Connect.Enabled {
		k.bad("connect.reset_flag", "needs connect.enabled", "")
	}

	switch c.Email.Transport {
	case "smtp":
		if uses("email") && c.SMTP.Host == "" {
			k.bad("smtp.host", fmt.Sprintf("required because default_mode is %q", c.DefaultMode), "or set email.transport: ses")
		}
	case "ses":
	default:
		k.bad("email.transport", "must be smtp or ses", "")
	}
	if uses("email") && c.Email.From == "" {
		k.bad("email.from", fmt.Sprintf("required because default_mode is %q", c.DefaultMode), "e.g. voicemail@example.com")
	}
	k.oneOf("email.attach", c.Email.Attach, "attach", "link", "both")
	if c.Email.MaxAttachmentMB < 1 || c.Email.MaxAttachmentMB > 28 {
		k.bad("email.max_attachment_mb", "must be between 1 and 28", "SES takes messages up to 40 MB, base64 included")
	}
	k.oneOf("smtp.tls", c.SMTP.TLS, "starttls", "tls", "none")
	if c.SMTP.Port < 0 || c.SMTP.Port > 65535 {
		k.bad("smtp.port", "must be a port number", "")
	}
	if c.SMTP.Password != "" && c.SMTP.Username == "" {
		k.bad("smtp.username", "required when smtp.password is set", "")
	}
	if c.SES.Endpoint != "" {
		k.checkEndpoint("ses.endpoint", c.SES.Endpoint)
	}

	for _, m := range []string{"sfcase", "sfother"} {
		if uses(m) && c.Salesforce.LoginURL == "" {
			k.bad("salesforce.login_url", fmt.Sprintf("required because default_mode is %q", c.DefaultMode), "e.g. https://login.salesforce.com")
		}
	}
	if uses("sfother") && c.Salesforce.OtherObject == "" {
		k.bad("salesforce.other_object", fmt.Sprintf("required because default_mode is %q", c.DefaultMode), "e.g. Voicemail__c")
	}
	if c.Salesforce.LoginURL != "" {
		if c.Salesforce.ClientID == "" {
			k.bad("salesforce.client_id", "required when salesforce.login_url is set", "the connected app's consumer key")
		}
		if (c.Salesforce.ClientSecret == "") == (c.Salesforce.PrivateKeyFile == "") {
			k.bad("salesforce.client_secret", "set either salesforce.client_secret or salesforce.private_key_file (with salesforce.username)", "")
		}
	}
	for _, kv := range c.Salesforce.OtherFields {
		if role, field, ok := strings.Cut(kv, "="); !ok || role == "" || field == "" {
			k.bad("salesforce.other_fields", fmt.Sprintf("%q must be ROLE=Field", kv), "e.g. description=Description__c")
		}
	}
	k.oneOf("salesforce.owner_match", c.Salesforce.OwnerMatch, "alias", "username", "none")

	if c.Summary.Enabled && c.Summary.ModelID == "" {
		k.bad("summary.model_id", "required when summary.enabled is true", "e.g. anthropic.claude-3-haiku-20240307-v1:0")
	}
	if c.Summary.MaxTokens < 1 || c.Summary.MaxTokens > 4096 {
		k.bad("summary.max_tokens", "must be between 1 and 4096", "")
	}
	if c.Summary.Endpoint != "" {
		k.checkEndpoint("summary.endpoint", c.Summary.Endpoint)
	}
}

// checkCalls checks the call-recording and live-transcription settings;
// the packages check the rest when vmx starts.
func (k *checker) checkCalls() {
	c := k.c
	k.oneOf("recording.start_selector", c.Recording.StartSelector, "NOW", "FRAGMENT_NUMBER")
	if c.Recording.MaxDuration < time.Minute {
		k.bad("recording.max_duration", "must be at least 1m", "e.g. 2h")
	}
	if c.Recording.MaxConcurrent < 1 {
		k.bad("recording.max_concurrent", "must be >= 1", "")
	}
	if c.Live.TargetURL != "" {
		if err := checkHTTPURL(c.Live.TargetURL); err != nil {
			k.bad("live.target_url", err.Error(), "e.g. https://example.com/transcripts")
		}
	}
	k.oneOf("live.target_secret_in", c.Live.TargetSecretIn, "header", "query")
	if (c.Live.TargetCertFile == "") != (c.Live.TargetKeyFile == "") {
		k.bad("live.target_cert_file", "live.target_cert_file and live.target_key_file go together", "")
	}
	if c.Live.TargetTimeout <= 0 {
		k.bad("live.target_timeout", "must be > 0", "e.g. 5s")
	}
	if c.Live.TargetQueueSize < 1 {
		k.bad("live.target_queue_size", "must be >= 1", "")
	}
	if c.Live.MaxConversations < 1 {
		k.bad("live.max_conversations", "must be >= 1", "")
	}
}

// oneOf reports a value at path that is none of allowed: "must be a, b or
// c".
func (k *checker) oneOf(path, value string, allowed ...string) {
	if slices.Contains(allowed, value) {
		return
	}
	last := len(allowed) - 1
	k.bad(path, "must be "+strings.Join(allowed[:last], ", ")+" or "+allowed[last], "")
}

// checkSecret checks a secret's length and stray whitespace.
func (k *checker) checkSecret(path, s string, minLen int) {
	if strings.TrimSpace(s) != s {
		k.bad(path, "must not begin or end with whitespace", "check for a trailing newline where it was set")
	}
	if len(s) < minLen {
		k.bad(path, fmt.Sprintf("must be at least %d characters (has %d)", minLen, len(s)), "use a random string, e.g. from openssl rand -hex 32")
	}
}

// checkModes checks a comma-separated list of delivery modes and returns
// its modes.
func (k *checker) checkModes(s string) []string {
	modes := splitList(s)
	if len(modes) == 0 {
		k.bad("default_mode", "must name a delivery mode", "available: "+strings.Join(availableModes(), ", "))
	}
	vmx := map[string]string{
		"AmazonConnectGuidedTask":  "guided_task",
		"AmazonConnectTask":        "task",
		"AmazonSimpleEmailService": "email",
	}
	for _, m := range modes {
		switch {
		case slices.Contains(availableModes(), m):
		case vmx[m] != "":
			k.bad("default_mode", fmt.Sprintf("unknown mode %q", m),
				fmt.Sprintf("%s is Voicemail Express's CloudFormation name; vmx calls it %s", m, vmx[m]))
		default:
			k.bad("default_mode", fmt.Sprintf("unknown mode %q", m), "available: "+strings.Join(availableModes(), ", "))
		}
	}
	return modes
}

func (k *checker) checkPrefixes(ps []string) {
	if len(ps) == 0 {
		k.bad("attribute_prefixes", "must list at least one prefix", "e.g. vmx3_,vmx_,vm_")
		return
	}
	for i, p := range ps {
		if p == "" || strings.IndexFunc(p, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) >= 0 {
			k.bad("attribute_prefixes", fmt.Sprintf("prefix %q may only contain letters, digits, _ and -", p), "")
		}
		if slices.Contains(ps[:i], p) {
			k.bad("attribute_prefixes", fmt.Sprintf("prefix %q is listed twice", p), "")
		}
	}
}

func (k *checker) checkEndpoint(path, s string) {
	if s == "" {
		return
	}
	if err := checkHTTPURL(s); err != nil {
		k.bad(path, err.Error(), "e.g. http://127.0.0.1:4566, or leave it empty for AWS")
	}
}

func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("must be host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("port must be a number from 0 to 65535")
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an http or https URL")
	}
	if _, port, err := net.SplitHostPort(u.Host); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errors.New("must be an http or https URL with a valid port")
		}
	}
	return nil
}

// checkBucket applies S3's bucket naming rules.
func checkBucket(s string) error {
	if len(s) < 3 || len(s) > 63 {
		return errors.New("must be 3 to 63 characters")
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && r != '.' && r != '-' {
			return errors.New("may only contain lowercase letters, digits, . and -")
		}
		if !alnum && (i == 0 || i == len(s)-1) {
			return errors.New("must begin and end with a letter or digit")
		}
	}
	return nil
}

// validRegion accepts region names like us-east-1 or us-gov-west-1.

// validLanguage accepts codes like en-US, es-419 or zh-Hans-CN.
func validLanguage(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts[0]) < 2 || len(parts[0]) > 3 || !lowerAlpha(parts[0]) {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 2 || len(p) > 8 || strings.IndexFunc(p, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 {
			return false
		}
	}
	return true
}

// isQueueARN accepts a queue's ARN or an agent's personal queue's.
func isQueueARN(s string) bool {
	_, ok := arn.ParseQueue(s)
	return ok
}

func validStream(s string) bool {
	if strings.HasPrefix(s, "arn:") {
		res, ok := arn.Resource(s, "kinesis")
		name, found := strings.CutPrefix(res, "stream/")
		return ok && found && validStreamName(name)
	}
	return validStreamName(s)
}

func validStreamName(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
	}) < 0
}

func lowerAlpha(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < 'a' || r > 'z' }) < 0
}
