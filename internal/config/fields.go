package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// field describes one setting: its key, environment variables, flag,
// documentation and where it lives in Config.
type field struct {
	path   string   // dotted YAML key
	env    []string // environment variables, first set wins
	flag   string   // command-line flag without dashes; "" for secrets
	secret bool     // never printed
	def    string   // the default, as documented
	empty  string   // what an empty value means, if it is allowed
	doc    string
	ptr    func(*Config) any // *string, *int, *bool, *time.Duration or *[]string
}

// fields lists every setting in the order they are documented and
// described.
func fields() []field {
	return []field{
		{path: "data_dir", env: []string{"VMX_DATA_DIR"}, flag: "data-dir", def: "./vmx-data",
			doc: "directory for the SQLite database, recordings kept as local files and the generated link secret",
			ptr: func(c *Config) any { return &c.DataDir }},
		{path: "listen", env: []string{"VMX_LISTEN"}, flag: "listen", def: "127.0.0.1:8080",
			doc: "host:port of the HTTP server (API, contact-record intake, media links)",
			ptr: func(c *Config) any { return &c.Listen }},
		{path: "public_url", env: []string{"VMX_PUBLIC_URL"}, flag: "public-url", def: "http://<listen host>:<port> (localhost for 0.0.0.0, :: or no host)",
			doc: "base URL of the links vmx hands out, as recipients reach this server",
			ptr: func(c *Config) any { return &c.PublicURL }},
		{path: "log_level", env: []string{"VMX_LOG_LEVEL"}, flag: "log-level", def: "info",
			doc: "debug, info, warn or error",
			ptr: func(c *Config) any { return &c.LogLevel }},
		{path: "db", env: []string{"VMX_DB"}, flag: "db", def: "sqlite://<data_dir>/vmx.db",
			doc: "database: sqlite://PATH (a file; sqlite:///abs/path for an absolute one) or postgres://USER:PASSWORD@HOST/DB",
			ptr: func(c *Config) any { return &c.DB }},
		{path: "api_auth", env: []string{"VMX_API_AUTH"}, flag: "api-auth", def: "key",
			doc: "key: API requests must carry api_key; none: the API is open to anyone who can reach listen",
			ptr: func(c *Config) any { return &c.APIAuth }},
		{path: "api_key", env: []string{"VMX_API_KEY"}, secret: true, def: "none; required when api_auth is key",
			doc: "key API clients must present; at least 16 characters",
			ptr: func(c *Config) any { return &c.APIKey }},
		{path: "link_secret", env: []string{"VMX_LINK_SECRET"}, secret: true, def: "generated on first start and kept in <data_dir>/link_secret",
			doc: "HMAC key signing media links; at least 32 characters; changing it breaks links already sent",
			ptr: func(c *Config) any { return &c.LinkSecret }},
		{path: "default_mode", env: []string{"VMX_DEFAULT_MODE"}, flag: "default-mode", def: "webhook",
			doc: "delivery mode for contacts whose *_mode attribute is absent; modes may be comma-separated",
			ptr: func(c *Config) any { return &c.DefaultMode }},
		{path: "attribute_prefixes", env: []string{"VMX_ATTRIBUTE_PREFIXES"}, flag: "attribute-prefixes", def: "vmx3_,vmx_,vm_",
			doc: "contact-attribute prefixes vmx reads (vmx3_flag, vmx_flag, …), in order of preference; a YAML list or comma-separated",
			ptr: func(c *Config) any { return &c.AttributePrefixes }},
		{path: "transcriber", env: []string{"VMX_TRANSCRIBER"}, flag: "transcriber", def: "none",
			doc: "speech-to-text engine: pocketsphinx (embedded), sherpa (an ONNX model you supply), aws (Amazon Transcribe) or none (no transcription)",
			ptr: func(c *Config) any { return &c.Transcriber }},
		{path: "aws.region", env: []string{"VMX_AWS_REGION", "AWS_REGION"}, flag: "aws-region", empty: "the AWS SDK's default",
			doc: "AWS region of Kinesis, Kinesis Video and S3",
			ptr: func(c *Config) any { return &c.AWS.Region }},
		{path: "kvs.endpoint", env: []string{"VMX_KVS_ENDPOINT"}, flag: "kvs-endpoint", empty: "AWS",
			doc: "Kinesis Video Streams endpoint, e.g. a vmx kvs-sim URL",
			ptr: func(c *Config) any { return &c.KVS.Endpoint }},
		{path: "s3.bucket", env: []string{"VMX_BUCKET"}, flag: "s3-bucket", empty: "recordings are files under data_dir",
			doc: "S3 bucket for recordings",
			ptr: func(c *Config) any { return &c.S3.Bucket }},
		{path: "s3.endpoint", env: []string{"VMX_S3_ENDPOINT"}, flag: "s3-endpoint", empty: "AWS",
			doc: "endpoint of an S3-compatible server",
			ptr: func(c *Config) any { return &c.S3.Endpoint }},
		{path: "s3.path_style", env: []string{"VMX_S3_PATH_STYLE"}, flag: "s3-path-style", def: "false",
			doc: "path-style bucket addressing, which most S3-compatible servers need",
			ptr: func(c *Config) any { return &c.S3.PathStyle }},
		{path: "webhook.url", env: []string{"VMX_WEBHOOK_URL"}, flag: "webhook-url", empty: "none; required when a mode is webhook",
			doc: "http or https URL that receives each voicemail as a signed POST",
			ptr: func(c *Config) any { return &c.Webhook.URL }},
		{path: "webhook.secret", env: []string{"VMX_WEBHOOK_SECRET"}, secret: true, def: "none; required when webhook.url is set",
			doc: "HMAC key signing webhook requests; at least 16 characters",
			ptr: func(c *Config) any { return &c.Webhook.Secret }},
		{path: "webhook.timeout", env: []string{"VMX_WEBHOOK_TIMEOUT"}, flag: "webhook-timeout", def: "10s",
			doc: "time limit of one webhook request",
			ptr: func(c *Config) any { return &c.Webhook.Timeout }},
		{path: "defaults.language", env: []string{"VMX_DEFAULT_LANGUAGE"}, flag: "default-language", def: "en-US",
			doc: "language code for contacts without a *_lang attribute",
			ptr: func(c *Config) any { return &c.Defaults.Language }},
		{path: "defaults.queue_arn", env: []string{"VMX_DEFAULT_QUEUE_ARN"}, flag: "default-queue-arn", empty: "none",
			doc: "queue ARN for contacts without a *_queue_arn attribute",
			ptr: func(c *Config) any { return &c.Defaults.QueueARN }},
		{path: "retention.days", env: []string{"VMX_RETENTION_DAYS"}, flag: "retention-days", def: "0 (keep forever)",
			doc: "days a voicemail and its recording are kept (Voicemail Express: RecordingsExpireInXDays)",
			ptr: func(c *Config) any { return &c.Retention.Days }},
		{path: "retention.interval", env: []string{"VMX_RETENTION_INTERVAL"}, flag: "retention-interval", def: "1h",
			doc: "how often expired voicemails are removed",
			ptr: func(c *Config) any { return &c.Retention.Interval }},
		{path: "kinesis.enabled", env: []string{"VMX_KINESIS_ENABLED"}, flag: "kinesis-enabled", def: "true when kinesis.stream is set",
			doc: "read contact records from the Kinesis data stream",
			ptr: func(c *Config) any { return &c.Kinesis.Enabled }},
		{path: "kinesis.stream", env: []string{"VMX_KINESIS_STREAM"}, flag: "kinesis-stream", empty: "none",
			doc: "name or ARN of the Kinesis data stream Amazon Connect writes contact records to",
			ptr: func(c *Config) any { return &c.Kinesis.Stream }},
		{path: "kinesis.endpoint", env: []string{"VMX_KINESIS_ENDPOINT"}, flag: "kinesis-endpoint", empty: "AWS",
			doc: "Kinesis endpoint, e.g. a local emulator",
			ptr: func(c *Config) any { return &c.Kinesis.Endpoint }},
		{path: "kinesis.initial_position", env: []string{"VMX_KINESIS_INITIAL_POSITION"}, flag: "kinesis-initial-position", def: "latest",
			doc: "where a shard without a checkpoint is first read: latest (records written from then on; what Voicemail Express already handled is not delivered again) or trim_horizon (the oldest record the stream holds)",
			ptr: func(c *Config) any { return &c.Kinesis.InitialPosition }},
		{path: "jobs.workers", env: []string{"VMX_JOBS_WORKERS"}, flag: "jobs-workers", def: "number of CPUs",
			doc: "pipeline jobs worked at once",
			ptr: func(c *Config) any { return &c.Jobs.Workers }},
		{path: "jobs.max_attempts", env: []string{"VMX_JOBS_MAX_ATTEMPTS"}, flag: "jobs-max-attempts", def: "10",
			doc: "attempts of a pipeline step before the voicemail is marked failed",
			ptr: func(c *Config) any { return &c.Jobs.MaxAttempts }},
		{path: "jobs.rescue_after", env: []string{"VMX_JOBS_RESCUE_AFTER"}, flag: "jobs-rescue-after", def: "2m",
			doc: "how long a step may run before it is taken for dead (its process crashed) and run again; keep it above the slowest step",
			ptr: func(c *Config) any { return &c.Jobs.RescueAfter }},
		{path: "ivr.recording_wait", env: []string{"VMX_IVR_RECORDING_WAIT"}, flag: "ivr-recording-wait", def: "10m",
			doc: "how long to wait for an IVR recording to appear in S3",
			ptr: func(c *Config) any { return &c.IVR.RecordingWait }},
		{path: "empty_voicemails", env: []string{"VMX_EMPTY_VOICEMAILS"}, flag: "empty-voicemails", def: "deliver",
			doc: "a voicemail without speech (the caller hung up without speaking): deliver (marked empty) or drop (not delivered; its contact is finalized)",
			ptr: func(c *Config) any { return &c.EmptyVoicemails }},
		{path: "pocketsphinx.model_dir", env: []string{"VMX_POCKETSPHINX_MODEL_DIR"}, flag: "pocketsphinx-model-dir", def: "/usr/share/pocketsphinx/model/en-us",
			doc: "PocketSphinx model directory (Debian's pocketsphinx-en-us)",
			ptr: func(c *Config) any { return &c.PocketSphinx.ModelDir }},
		{path: "pocketsphinx.domain_lm", env: []string{"VMX_POCKETSPHINX_DOMAIN_LM"}, flag: "pocketsphinx-domain-lm", def: "none",
			doc: "language model of voicemail phrases interpolated with the general one: none, builtin (vmx's own, written to <data_dir>/models: better on scripted voicemail phrases, worse on other speech), or the path of an ARPA or .lm.bin file",
			ptr: func(c *Config) any { return &c.PocketSphinx.DomainLM }},
		{path: "pocketsphinx.speed", env: []string{"VMX_POCKETSPHINX_SPEED"}, flag: "pocketsphinx-speed", def: "fast",
			doc: "fast, accurate or fastest: decoding passes and beams",
			ptr: func(c *Config) any { return &c.PocketSphinx.Speed }},
		{path: "sherpa.model", env: []string{"VMX_SHERPA_MODEL"}, flag: "sherpa-model", empty: "none; required when transcriber is sherpa",
			doc: "family of the sherpa-onnx model: whisper, transducer (Zipformer) or paraformer",
			ptr: func(c *Config) any { return &c.Sherpa.Model }},
		{path: "sherpa.encoder", env: []string{"VMX_SHERPA_ENCODER"}, flag: "sherpa-encoder", empty: "none",
			doc: "encoder ONNX file (whisper, transducer)",
			ptr: func(c *Config) any { return &c.Sherpa.Encoder }},
		{path: "sherpa.decoder", env: []string{"VMX_SHERPA_DECODER"}, flag: "sherpa-decoder", empty: "none",
			doc: "decoder ONNX file (whisper, transducer)",
			ptr: func(c *Config) any { return &c.Sherpa.Decoder }},
		{path: "sherpa.joiner", env: []string{"VMX_SHERPA_JOINER"}, flag: "sherpa-joiner", empty: "none",
			doc: "joiner ONNX file (transducer)",
			ptr: func(c *Config) any { return &c.Sherpa.Joiner }},
		{path: "sherpa.model_file", env: []string{"VMX_SHERPA_MODEL_FILE"}, flag: "sherpa-model-file", empty: "none",
			doc: "the model's ONNX file (paraformer)",
			ptr: func(c *Config) any { return &c.Sherpa.ModelFile }},
		{path: "sherpa.tokens", env: []string{"VMX_SHERPA_TOKENS"}, flag: "sherpa-tokens", empty: "none; required when transcriber is sherpa",
			doc: "the model's tokens.txt",
			ptr: func(c *Config) any { return &c.Sherpa.Tokens }},
		{path: "sherpa.language", env: []string{"VMX_SHERPA_LANGUAGE"}, flag: "sherpa-language", def: "en",
			doc: "language the model speaks (Whisper: the language to transcribe), as a code like en or de",
			ptr: func(c *Config) any { return &c.Sherpa.Language }},
		{path: "sherpa.num_threads", env: []string{"VMX_SHERPA_NUM_THREADS"}, flag: "sherpa-num-threads", def: "1",
			doc: "onnxruntime threads per recogniser",
			ptr: func(c *Config) any { return &c.Sherpa.NumThreads }},
		{path: "sherpa.decoding_method", env: []string{"VMX_SHERPA_DECODING_METHOD"}, flag: "sherpa-decoding-method", def: "greedy_search",
			doc: "greedy_search, or modified_beam_search (transducers)",
			ptr: func(c *Config) any { return &c.Sherpa.DecodingMethod }},
		{path: "transcribe.vocabulary", env: []string{"VMX_TRANSCRIBE_VOCABULARY"}, flag: "transcribe-vocabulary", empty: "none",
			doc: "Amazon Transcribe custom vocabulary",
			ptr: func(c *Config) any { return &c.Transcribe.Vocabulary }},
		{path: "transcribe.redact_pii", env: []string{"VMX_TRANSCRIBE_REDACT_PII"}, flag: "transcribe-redact-pii", def: "false",
			doc: "Amazon Transcribe PII redaction (en-US and es-US)",
			ptr: func(c *Config) any { return &c.Transcribe.RedactPII }},
		{path: "transcribe.identify_language", env: []string{"VMX_TRANSCRIBE_IDENTIFY_LANGUAGE"}, flag: "transcribe-identify-language", def: "false",
			doc: "let Amazon Transcribe identify the language instead of using the contact's",
			ptr: func(c *Config) any { return &c.Transcribe.IdentifyLanguage }},
		{path: "transcribe.output_kms_key", env: []string{"VMX_TRANSCRIBE_OUTPUT_KMS_KEY"}, flag: "transcribe-output-kms-key", empty: "SSE-S3",
			doc: "KMS key (id, ARN or alias) Amazon Transcribe encrypts its output with",
			ptr: func(c *Config) any { return &c.Transcribe.OutputKMSKey }},
		{path: "vad.silero_model", env: []string{"VMX_VAD_SILERO_MODEL"}, flag: "vad-silero-model", empty: "none: the energy detector",
			doc: "Silero VAD model (silero_vad.onnx) for voice activity detection, in builds with the sherpa tag",
			ptr: func(c *Config) any { return &c.VAD.SileroModel }},
		{path: "text.callback_number", env: []string{"VMX_TEXT_CALLBACK_NUMBER"}, flag: "text-callback-number", def: "true",
			doc: "extract a spoken callback number (\"five five five one two three four\") into digits",
			ptr: func(c *Config) any { return &c.Text.CallbackNumber }},
		{path: "text.mask_digits", env: []string{"VMX_TEXT_MASK_DIGITS"}, flag: "text-mask-digits", def: "0 (off)",
			doc: "mask runs of at least this many digits (card numbers, PINs) in delivered transcripts",
			ptr: func(c *Config) any { return &c.Text.MaskDigits }},
		{path: "text.mask_keep", env: []string{"VMX_TEXT_MASK_KEEP"}, flag: "text-mask-keep", def: "4",
			doc: "digits left visible at the end of a masked run",
			ptr: func(c *Config) any { return &c.Text.MaskKeep }},
		{path: "time_zone", env: []string{"VMX_TIME_ZONE"}, flag: "time-zone", def: "UTC",
			doc: "the contact centre's IANA time zone, e.g. America/New_York: times shown in tasks and e-mails are the call's time there",
			ptr: func(c *Config) any { return &c.TimeZone }},
		{path: "connect.enabled", env: []string{"VMX_CONNECT_ENABLED"}, flag: "connect-enabled", def: "false",
			doc: "use the Amazon Connect API: look queues and agents up, deliver tasks, reset the voicemail flag after delivery",
			ptr: func(c *Config) any { return &c.Connect.Enabled }},
		{path: "connect.endpoint", env: []string{"VMX_CONNECT_ENDPOINT"}, flag: "connect-endpoint", empty: "AWS",
			doc: "Amazon Connect API endpoint, e.g. a test server",
			ptr: func(c *Config) any { return &c.Connect.Endpoint }},
		{path: "connect.task_flow_id", env: []string{"VMX_CONNECT_TASK_FLOW_ID"}, flag: "connect-task-flow-id", empty: "none; a task flow or task template is required for the task mode",
			doc: "contact flow (ID or ARN) that routes task voicemails; a contact's *_task_flow attribute overrides it",
			ptr: func(c *Config) any { return &c.Connect.TaskFlowID }},
		{path: "connect.task_template_id", env: []string{"VMX_CONNECT_TASK_TEMPLATE_ID"}, flag: "connect-task-template-id", empty: "none",
			doc: "task template for task voicemails, instead of a flow",
			ptr: func(c *Config) any { return &c.Connect.TaskTemplateID }},
		{path: "connect.guided_task_flow_id", env: []string{"VMX_CONNECT_GUIDED_TASK_FLOW_ID"}, flag: "connect-guided-task-flow-id", empty: "none; required for the guided_task mode",
			doc: "contact flow (ID or ARN) that routes guided-task voicemails; a contact's *_guided_task_flow attribute overrides it",
			ptr: func(c *Config) any { return &c.Connect.GuidedTaskFlowID }},
		{path: "connect.agent_email_field", env: []string{"VMX_CONNECT_AGENT_EMAIL_FIELD"}, flag: "connect-agent-email-field", def: "Email",
			doc: "where an agent's e-mail address is read: Email, SecondaryEmail or Username",
			ptr: func(c *Config) any { return &c.Connect.AgentEmailField }},
		{path: "connect.agent_fallback_queue_arn", env: []string{"VMX_CONNECT_AGENT_FALLBACK_QUEUE_ARN"}, flag: "connect-agent-fallback-queue-arn", empty: "the agent's personal queue, with a warning",
			doc: "queue for voicemails to an agent who no longer exists",
			ptr: func(c *Config) any { return &c.Connect.AgentFallbackQueueARN }},
		{path: "connect.cache_ttl", env: []string{"VMX_CONNECT_CACHE_TTL"}, flag: "connect-cache-ttl", def: "5m",
			doc: "how long queue and agent lookups are kept",
			ptr: func(c *Config) any { return &c.Connect.CacheTTL }},
		{path: "connect.guided_link_ttl", env: []string{"VMX_CONNECT_GUIDED_LINK_TTL"}, flag: "connect-guided-link-ttl", def: "10m",
			doc: "lifetime of the recording link the guided-task presigner returns",
			ptr: func(c *Config) any { return &c.Connect.GuidedLinkTTL }},
		{path: "connect.reset_flag", env: []string{"VMX_CONNECT_RESET_FLAG"}, flag: "connect-reset-flag", def: "true when connect.enabled",
			doc: "set the contact's voicemail flag attribute to 0 once the voicemail is delivered, as Voicemail Express does",
			ptr: func(c *Config) any { return &c.Connect.ResetFlag }},
		{path: "email.transport", env: []string{"VMX_EMAIL_TRANSPORT"}, flag: "email-transport", def: "smtp",
			doc: "how e-mail is sent: smtp or ses",
			ptr: func(c *Config) any { return &c.Email.Transport }},
		{path: "email.from", env: []string{"VMX_EMAIL_FROM"}, flag: "email-from", empty: "none; required for the email mode",
			doc: "sender address of voicemail e-mails; a contact's *_email_from attribute overrides it",
			ptr: func(c *Config) any { return &c.Email.From }},
		{path: "email.to", env: []string{"VMX_EMAIL_TO"}, flag: "email-to", empty: "none",
			doc: "recipients when a contact names none (*_email_to) and no agent or queue address is known; a YAML list or comma-separated",
			ptr: func(c *Config) any { return &c.Email.To }},
		{path: "email.allowed_domains", env: []string{"VMX_EMAIL_ALLOWED_DOMAINS"}, flag: "email-allowed-domains", empty: "any domain",
			doc: "recipient domains e-mail may go to (example.com, *.example.com); a YAML list or comma-separated",
			ptr: func(c *Config) any { return &c.Email.AllowedDomains }},
		{path: "email.template_dir", env: []string{"VMX_EMAIL_TEMPLATE_DIR"}, flag: "email-template-dir", empty: "the built-in templates",
			doc: "directory of e-mail templates (NAME.subject.tmpl, NAME.txt.tmpl, NAME.html.tmpl) overriding the built-in ones; a contact picks one with *_email_template",
			ptr: func(c *Config) any { return &c.Email.TemplateDir }},
		{path: "email.attach", env: []string{"VMX_EMAIL_ATTACH"}, flag: "email-attach", def: "both",
			doc: "how the recording is sent: attach, link or both",
			ptr: func(c *Config) any { return &c.Email.Attach }},
		{path: "email.max_attachment_mb", env: []string{"VMX_EMAIL_MAX_ATTACHMENT_MB"}, flag: "email-max-attachment-mb", def: "10",
			doc: "largest recording attached, in MB; larger ones are linked",
			ptr: func(c *Config) any { return &c.Email.MaxAttachmentMB }},
		{path: "smtp.host", env: []string{"VMX_SMTP_HOST"}, flag: "smtp-host", empty: "none; required when email.transport is smtp and the email mode is used",
			doc: "SMTP server",
			ptr: func(c *Config) any { return &c.SMTP.Host }},
		{path: "smtp.port", env: []string{"VMX_SMTP_PORT"}, flag: "smtp-port", def: "587 for starttls, 465 for tls, 25 for none",
			doc: "SMTP port",
			ptr: func(c *Config) any { return &c.SMTP.Port }},
		{path: "smtp.tls", env: []string{"VMX_SMTP_TLS"}, flag: "smtp-tls", def: "starttls",
			doc: "starttls (required), tls (implicit) or none (plain, for a local relay)",
			ptr: func(c *Config) any { return &c.SMTP.TLS }},
		{path: "smtp.username", env: []string{"VMX_SMTP_USERNAME"}, flag: "smtp-username", empty: "no authentication",
			doc: "SMTP user name",
			ptr: func(c *Config) any { return &c.SMTP.Username }},
		{path: "smtp.password", env: []string{"VMX_SMTP_PASSWORD"}, secret: true, def: "none",
			doc: "SMTP password",
			ptr: func(c *Config) any { return &c.SMTP.Password }},
		{path: "smtp.ca_file", env: []string{"VMX_SMTP_CA_FILE"}, flag: "smtp-ca-file", empty: "the system's",
			doc: "PEM file of CA certificates the SMTP server's certificate is checked against, besides the system's",
			ptr: func(c *Config) any { return &c.SMTP.CAFile }},
		{path: "ses.configuration_set", env: []string{"VMX_SES_CONFIGURATION_SET"}, flag: "ses-configuration-set", empty: "none",
			doc: "Amazon SES configuration set",
			ptr: func(c *Config) any { return &c.SES.ConfigurationSet }},
		{path: "ses.endpoint", env: []string{"VMX_SES_ENDPOINT"}, flag: "ses-endpoint", empty: "AWS",
			doc: "Amazon SES endpoint, e.g. a local emulator",
			ptr: func(c *Config) any { return &c.SES.Endpoint }},
		{path: "salesforce.login_url", env: []string{"VMX_SALESFORCE_LOGIN_URL"}, flag: "salesforce-login-url", empty: "none; required for the sfcase and sfother modes",
			doc: "Salesforce login URL (https://login.salesforce.com or your My Domain)",
			ptr: func(c *Config) any { return &c.Salesforce.LoginURL }},
		{path: "salesforce.client_id", env: []string{"VMX_SALESFORCE_CLIENT_ID"}, flag: "salesforce-client-id", empty: "none",
			doc: "connected app's consumer key",
			ptr: func(c *Config) any { return &c.Salesforce.ClientID }},
		{path: "salesforce.client_secret", env: []string{"VMX_SALESFORCE_CLIENT_SECRET"}, secret: true, def: "none",
			doc: "connected app's consumer secret (client credentials flow)",
			ptr: func(c *Config) any { return &c.Salesforce.ClientSecret }},
		{path: "salesforce.username", env: []string{"VMX_SALESFORCE_USERNAME"}, flag: "salesforce-username", empty: "none: the client credentials flow",
			doc: "user the JWT bearer flow acts as",
			ptr: func(c *Config) any { return &c.Salesforce.Username }},
		{path: "salesforce.private_key_file", env: []string{"VMX_SALESFORCE_PRIVATE_KEY_FILE"}, flag: "salesforce-private-key-file", empty: "none",
			doc: "PEM private key signing the JWT bearer assertion",
			ptr: func(c *Config) any { return &c.Salesforce.PrivateKeyFile }},
		{path: "salesforce.ca_file", env: []string{"VMX_SALESFORCE_CA_FILE"}, flag: "salesforce-ca-file", empty: "the system's",
			doc: "PEM file of CA certificates Salesforce's certificate is checked against, besides the system's (a TLS-inspecting proxy's)",
			ptr: func(c *Config) any { return &c.Salesforce.CAFile }},
		{path: "salesforce.other_object", env: []string{"VMX_SALESFORCE_OTHER_OBJECT"}, flag: "salesforce-other-object", empty: "none; required for the sfother mode",
			doc: "custom object the sfother mode creates, e.g. Voicemail__c",
			ptr: func(c *Config) any { return &c.Salesforce.OtherObject }},
		{path: "salesforce.other_fields", env: []string{"VMX_SALESFORCE_OTHER_FIELDS"}, flag: "salesforce-other-fields", empty: "none",
			doc: "fields of salesforce.other_object as ROLE=Field (roles: subject, description, priority, origin, phone, transcript, attributes, recording_link, contact_id); a YAML list or comma-separated",
			ptr: func(c *Config) any { return &c.Salesforce.OtherFields }},
		{path: "salesforce.dedupe_field", env: []string{"VMX_SALESFORCE_DEDUPE_FIELD"}, flag: "salesforce-dedupe-field", empty: "none: a crash between create and receipt can duplicate a record",
			doc: "field (an external ID) that holds the delivery key, so that a retried delivery finds the record instead of creating a second",
			ptr: func(c *Config) any { return &c.Salesforce.DedupeField }},
		{path: "salesforce.owner_match", env: []string{"VMX_SALESFORCE_OWNER_MATCH"}, flag: "salesforce-owner-match", def: "alias",
			doc: "how the owner is found from the agent: alias, username or none",
			ptr: func(c *Config) any { return &c.Salesforce.OwnerMatch }},
		{path: "summary.enabled", env: []string{"VMX_SUMMARY_ENABLED"}, flag: "summary-enabled", def: "false",
			doc: "summarise transcripts with Amazon Bedrock; a contact's *_do_genai_summary attribute overrides it",
			ptr: func(c *Config) any { return &c.Summary.Enabled }},
		{path: "summary.model_id", env: []string{"VMX_SUMMARY_MODEL_ID"}, flag: "summary-model-id", empty: "none; required when summary.enabled",
			doc: "Bedrock model ID, e.g. anthropic.claude-3-haiku-20240307-v1:0",
			ptr: func(c *Config) any { return &c.Summary.ModelID }},
		{path: "summary.region", env: []string{"VMX_SUMMARY_REGION"}, flag: "summary-region", empty: "aws.region",
			doc: "Bedrock region",
			ptr: func(c *Config) any { return &c.Summary.Region }},
		{path: "summary.endpoint", env: []string{"VMX_SUMMARY_ENDPOINT"}, flag: "summary-endpoint", empty: "AWS",
			doc: "Bedrock runtime endpoint, e.g. a test server",
			ptr: func(c *Config) any { return &c.Summary.Endpoint }},
		{path: "summary.max_tokens", env: []string{"VMX_SUMMARY_MAX_TOKENS"}, flag: "summary-max-tokens", def: "300",
			doc: "longest summary, in tokens",
			ptr: func(c *Config) any { return &c.Summary.MaxTokens }},
		{path: "recording.key_prefix", env: []string{"VMX_RECORDING_KEY_PREFIX"}, flag: "recording-key-prefix", def: "call-recordings/",
			doc: "storage key prefix of call recordings (<prefix><contactId>_<UTC time>_AUDIO_FROM_CUSTOMER.wav …)",
			ptr: func(c *Config) any { return &c.Recording.KeyPrefix }},
		{path: "recording.start_selector", env: []string{"VMX_RECORDING_START_SELECTOR"}, flag: "recording-start-selector", def: "FRAGMENT_NUMBER",
			doc: "where a recording starts in the stream when the request names no fragment: NOW or FRAGMENT_NUMBER",
			ptr: func(c *Config) any { return &c.Recording.StartSelector }},
		{path: "recording.max_duration", env: []string{"VMX_RECORDING_MAX_DURATION"}, flag: "recording-max-duration", def: "2h",
			doc: "longest call recorded",
			ptr: func(c *Config) any { return &c.Recording.MaxDuration }},
		{path: "recording.max_concurrent", env: []string{"VMX_RECORDING_MAX_CONCURRENT"}, flag: "recording-max-concurrent", def: "50",
			doc: "calls recorded at once by this replica",
			ptr: func(c *Config) any { return &c.Recording.MaxConcurrent }},
		{path: "recording.save_partial_transcripts", env: []string{"VMX_RECORDING_SAVE_PARTIAL_TRANSCRIPTS"}, flag: "recording-save-partial-transcripts", def: "false",
			doc: "store transcript segments while the call goes on, not only when it ends",
			ptr: func(c *Config) any { return &c.Recording.SavePartialTranscripts }},
		{path: "live.target_url", env: []string{"VMX_LIVE_TARGET_URL"}, flag: "live-target-url", empty: "none: the live transcription API is off",
			doc: "URL each finished utterance of a live transcription is POSTed to",
			ptr: func(c *Config) any { return &c.Live.TargetURL }},
		{path: "live.target_secret_name", env: []string{"VMX_LIVE_TARGET_SECRET_NAME"}, flag: "live-target-secret-name", def: "X-Api-Key",
			doc: "header (or URL parameter) that carries live.target_secret",
			ptr: func(c *Config) any { return &c.Live.TargetSecretName }},
		{path: "live.target_secret", env: []string{"VMX_LIVE_TARGET_SECRET"}, secret: true, def: "none",
			doc: "secret sent with each utterance",
			ptr: func(c *Config) any { return &c.Live.TargetSecret }},
		{path: "live.target_secret_in", env: []string{"VMX_LIVE_TARGET_SECRET_IN"}, flag: "live-target-secret-in", def: "header",
			doc: "where the secret goes: header or query",
			ptr: func(c *Config) any { return &c.Live.TargetSecretIn }},
		{path: "live.target_ca_file", env: []string{"VMX_LIVE_TARGET_CA_FILE"}, flag: "live-target-ca-file", empty: "the system's",
			doc: "PEM CA certificates the target's certificate is checked against, besides the system's",
			ptr: func(c *Config) any { return &c.Live.TargetCAFile }},
		{path: "live.target_cert_file", env: []string{"VMX_LIVE_TARGET_CERT_FILE"}, flag: "live-target-cert-file", empty: "none",
			doc: "client certificate (PEM) for mutual TLS with the target",
			ptr: func(c *Config) any { return &c.Live.TargetCertFile }},
		{path: "live.target_key_file", env: []string{"VMX_LIVE_TARGET_KEY_FILE"}, flag: "live-target-key-file", empty: "none",
			doc: "the client certificate's key (PEM)",
			ptr: func(c *Config) any { return &c.Live.TargetKeyFile }},
		{path: "live.target_oauth2_token_url", env: []string{"VMX_LIVE_TARGET_OAUTH2_TOKEN_URL"}, flag: "live-target-oauth2-token-url", empty: "none",
			doc: "OAuth 2.0 token URL (client credentials) for the target",
			ptr: func(c *Config) any { return &c.Live.TargetOAuth2TokenURL }},
		{path: "live.target_oauth2_client_id", env: []string{"VMX_LIVE_TARGET_OAUTH2_CLIENT_ID"}, flag: "live-target-oauth2-client-id", empty: "none",
			doc: "OAuth 2.0 client ID",
			ptr: func(c *Config) any { return &c.Live.TargetOAuth2ClientID }},
		{path: "live.target_oauth2_client_secret", env: []string{"VMX_LIVE_TARGET_OAUTH2_CLIENT_SECRET"}, secret: true, def: "none",
			doc: "OAuth 2.0 client secret",
			ptr: func(c *Config) any { return &c.Live.TargetOAuth2ClientSecret }},
		{path: "live.target_timeout", env: []string{"VMX_LIVE_TARGET_TIMEOUT"}, flag: "live-target-timeout", def: "5s",
			doc: "time limit of one POST; no retries",
			ptr: func(c *Config) any { return &c.Live.TargetTimeout }},
		{path: "live.target_queue_size", env: []string{"VMX_LIVE_TARGET_QUEUE_SIZE"}, flag: "live-target-queue-size", def: "1000",
			doc: "utterances waiting for the target; when full the oldest is dropped",
			ptr: func(c *Config) any { return &c.Live.TargetQueueSize }},
		{path: "live.redaction", env: []string{"VMX_LIVE_REDACTION"}, flag: "live-redaction", def: "true",
			doc: "mask runs of digits in utterances",
			ptr: func(c *Config) any { return &c.Live.Redaction }},
		{path: "live.max_conversations", env: []string{"VMX_LIVE_MAX_CONVERSATIONS"}, flag: "live-max-conversations", def: "100",
			doc: "calls transcribed at once",
			ptr: func(c *Config) any { return &c.Live.MaxConversations }},
		{path: "live.heartbeat", env: []string{"VMX_LIVE_HEARTBEAT"}, flag: "live-heartbeat", def: "2s",
			doc: "how often the replica transcribing a call records in the database that it still does (10ms to 1m)",
			ptr: func(c *Config) any { return &c.Live.Heartbeat }},
		{path: "live.stop_poll", env: []string{"VMX_LIVE_STOP_POLL"}, flag: "live-stop-poll", def: "500ms",
			doc: "how often a replica looks in the database for stop requests that reached another replica (10ms to 1s)",
			ptr: func(c *Config) any { return &c.Live.StopPoll }},
		{path: "live.stale_after", env: []string{"VMX_LIVE_STALE_AFTER"}, flag: "live-stale-after", def: "10s",
			doc: "how long a call's heartbeat may be silent before other replicas take its replica for dead and stop or take over the call (at least 3 heartbeats; replicas' clocks must agree to well within it)",
			ptr: func(c *Config) any { return &c.Live.StaleAfter }},
		{path: "live.feed", env: []string{"VMX_LIVE_FEED"}, flag: "live-feed", def: "false",
			doc: "write each day's utterances as a JSON-lines file to the blob store",
			ptr: func(c *Config) any { return &c.Live.Feed }},
		{path: "lambda.table", env: []string{"VMX_LAMBDA_TABLE"}, flag: "lambda-table", empty: "none; required by the Lambda functions that keep voicemails",
			doc: "DynamoDB table holding the voicemails when vmx runs as Lambda functions (partition key contact_id)",
			ptr: func(c *Config) any { return &c.Lambda.Table }},
		{path: "lambda.step_queue", env: []string{"VMX_LAMBDA_STEP_QUEUE"}, flag: "lambda-step-queue", empty: "none; required by the Lambda functions that run pipeline steps",
			doc: "URL of the SQS queue that carries pipeline steps between Lambda invocations",
			ptr: func(c *Config) any { return &c.Lambda.StepQueue }},
		{path: "lambda.link_secret_arn", env: []string{"VMX_LAMBDA_LINK_SECRET_ARN"}, flag: "lambda-link-secret-arn", empty: "link_secret is used",
			doc: "ARN of the Secrets Manager secret whose string is the link HMAC key, read at cold start instead of link_secret",
			ptr: func(c *Config) any { return &c.Lambda.LinkSecretARN }},
		{path: "links.presign_ttl", env: []string{"VMX_LINKS_PRESIGN_TTL"}, flag: "links-presign-ttl", def: "5m",
			doc: "lifetime of the presigned S3 URL a media link redirects to; at most 7d",
			ptr: func(c *Config) any { return &c.Links.PresignTTL }},
		{path: "links.lifetime", env: []string{"VMX_LINKS_LIFETIME"}, flag: "links-lifetime", def: "0 (as long as the recording is kept)",
			doc: "how long a media link works after it is issued",
			ptr: func(c *Config) any { return &c.Links.Lifetime }},
	}
}

// EnvNames lists every environment variable vmx reads its settings from,
// VMX_CONFIG included.
func EnvNames() []string {
	names := []string{"VMX_CONFIG"}
	for _, f := range fields() {
		names = append(names, f.env...)
	}
	return names
}

// fieldMap indexes fs by path.
func fieldMap(fs []field) map[string]*field {
	m := make(map[string]*field, len(fs))
	for i := range fs {
		m[fs[i].path] = &fs[i]
	}
	return m
}

// sections returns the top-level keys that hold nested keys ("webhook")
// with their children, in table order.
func sections(fs []field) map[string][]string {
	m := map[string][]string{}
	for _, f := range fs {
		if sec, key, ok := strings.Cut(f.path, "."); ok {
			m[sec] = append(m[sec], key)
		}
	}
	return m
}

// isList reports whether f holds a list.
func (f *field) isList() bool {
	_, ok := f.ptr(&Config{}).(*[]string)
	return ok
}

// isBool reports whether f holds a boolean.
func (f *field) isBool() bool {
	_, ok := f.ptr(&Config{}).(*bool)
	return ok
}

// set parses s into f's place in c. The error states the rule broken.
func (f *field) set(c *Config, s string) error {
	switch p := f.ptr(c).(type) {
	case *string:
		*p = s
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return errors.New("number out of range")
			}
			return errors.New("must be a whole number")
		}
		*p = n
	case *bool:
		b, ok := parseBool(s)
		if !ok {
			return errors.New("must be true or false (or yes/no, on/off, 1/0)")
		}
		*p = b
	case *time.Duration:
		d, err := ParseDuration(s)
		if err != nil {
			return errors.New("must be a duration like 90s, 10m, 1h30m or 7d")
		}
		*p = d
	case *[]string:
		*p = splitList(s)
	}
	return nil
}

// setList stores a YAML sequence.
func (f *field) setList(c *Config, items []string) {
	if p, ok := f.ptr(c).(*[]string); ok {
		*p = items
	}
}

// format returns f's value in c as a string that set reads back.
func (f *field) format(c *Config) string {
	switch p := f.ptr(c).(type) {
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		return FormatDuration(*p)
	case *[]string:
		return strings.Join(*p, ",")
	}
	return ""
}

// display returns f's value in c fit to print: secrets hidden, passwords
// and tokens in URLs redacted.
func (f *field) display(c *Config) string {
	return f.redact(f.format(c))
}

// redact hides what must not be printed of a value s of f.
func (f *field) redact(s string) string {
	switch {
	case f.secret && s == "":
		return ""
	case f.secret:
		return fmt.Sprintf("(secret, %d characters)", len(s))
	case strings.Contains(s, "://"):
		return redactURL(s)
	}
	return s
}

// parseBool accepts what strconv.ParseBool does plus yes/no and on/off,
// the spelling of Voicemail Express's CloudFormation parameters.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "on":
		return true, true
	case "no", "off":
		return false, true
	}
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	return b, err == nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
