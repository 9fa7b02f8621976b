package awstranscribe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultOutputPrefix = "transcripts/"
	DefaultLanguage     = "en-US"
	DefaultPollInitial  = 2 * time.Second
	DefaultPollMax      = 30 * time.Second
	DefaultTimeout      = 15 * time.Minute
	DefaultRetryDelay   = 30 * time.Second
)

// Config configures an Engine. Only Bucket is required.
type Config struct {
	// Bucket holds the recordings: Transcribe reads
	// s3://<Bucket>/<Audio.WAVKey>.
	Bucket string
	// OutputBucket receives Transcribe's output. Default Bucket.
	OutputBucket string
	// OutputPrefix replaces the leading "recordings/" of the WAV key to
	// name the output, and ".wav" becomes ".json":
	// recordings/2025/09/13/<cid>.wav → transcripts/2025/09/13/<cid>.json.
	// Default DefaultOutputPrefix.
	OutputPrefix string
	// OutputKMSKey, when set, is the KMS key (id, ARN or alias) Transcribe
	// encrypts its output with; otherwise the output bucket's default
	// encryption does not apply and Transcribe uses SSE-S3.
	OutputKMSKey string

	// DefaultLanguage is the language of contacts whose Options.Language is
	// empty. Default DefaultLanguage (VMX had no default and failed).
	DefaultLanguage string
	// Vocabulary names an optional custom vocabulary, built for
	// VocabularyLanguage (default: DefaultLanguage). It is applied to jobs
	// in that language only, since Transcribe fails a job whose vocabulary
	// is of another language; with IdentifyLanguage it is passed through
	// LanguageIdSettings, and VocabularyLanguage must be one of
	// LanguageOptions.
	Vocabulary         string
	VocabularyLanguage string

	// RedactPII has Transcribe replace personal data (card numbers,
	// addresses, names…) with [PII] and write only the redacted transcript.
	// Transcribe redacts only some languages and never with language
	// identification: jobs in a language not in RedactLanguages run
	// without redaction (Job.Redacted tells), and RedactPII with
	// IdentifyLanguage is a configuration error.
	RedactPII bool
	// PIIEntityTypes narrows redaction to these Transcribe entity types
	// (CREDIT_DEBIT_NUMBER, PIN, PHONE…). Default: all.
	PIIEntityTypes []string
	// RedactLanguages are the languages Transcribe can redact.
	// Default en-US and es-US, the batch redaction languages in 2025.
	RedactLanguages []string

	// IdentifyLanguage has Transcribe identify the language instead of
	// taking Options.Language; LanguageOptions, if set (two or more),
	// restricts it to those.
	IdentifyLanguage bool
	LanguageOptions  []string

	// PollInitial is the first wait between status checks; each wait
	// doubles up to PollMax. Defaults DefaultPollInitial, DefaultPollMax.
	PollInitial, PollMax time.Duration
	// Timeout bounds one Transcribe call, waiting included. A job still
	// running then is left running and the call returns an error marked
	// retry.After(RetryDelay): the retry finds the job by its name.
	// Default DefaultTimeout.
	Timeout time.Duration
	// RetryDelay is the delay asked of the runner (retry.After) after
	// throttling, a server error, or Timeout. Default DefaultRetryDelay.
	RetryDelay time.Duration

	// Sleep waits d or until ctx ends, returning context.Cause(ctx) then.
	// Tests replace it to poll without waiting. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// withDefaults returns c with its defaults filled in.
func (c Config) withDefaults() Config {
	if c.OutputBucket == "" {
		c.OutputBucket = c.Bucket
	}
	if c.OutputPrefix == "" {
		c.OutputPrefix = DefaultOutputPrefix
	}
	if c.DefaultLanguage == "" {
		c.DefaultLanguage = DefaultLanguage
	}
	if c.VocabularyLanguage == "" {
		c.VocabularyLanguage = c.DefaultLanguage
	}
	if c.RedactLanguages == nil {
		c.RedactLanguages = []string{"en-US", "es-US"}
	}
	if c.PollInitial == 0 {
		c.PollInitial = DefaultPollInitial
	}
	if c.PollMax == 0 {
		c.PollMax = max(DefaultPollMax, c.PollInitial)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
}

// validate checks a Config with its defaults filled in.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Bucket == "" {
		bad("Bucket: required")
	}
	if strings.HasPrefix(c.OutputPrefix, "/") {
		bad("OutputPrefix %q: must not start with /", c.OutputPrefix)
	}
	if c.PollInitial < 0 || c.PollMax < c.PollInitial {
		bad("PollInitial %s, PollMax %s: need 0 < PollInitial <= PollMax", c.PollInitial, c.PollMax)
	}
	if c.Timeout < 0 {
		bad("Timeout %s: must not be negative", c.Timeout)
	}
	if c.RetryDelay < 0 {
		bad("RetryDelay %s: must not be negative", c.RetryDelay)
	}
	if len(c.LanguageOptions) > 0 && !c.IdentifyLanguage {
		bad("LanguageOptions: only with IdentifyLanguage")
	}
	if len(c.LanguageOptions) == 1 {
		bad("LanguageOptions: need two or more languages, or none")
	}
	if c.IdentifyLanguage && c.RedactPII {
		bad("RedactPII: Transcribe cannot redact with IdentifyLanguage")
	}
	if c.IdentifyLanguage && c.Vocabulary != "" && !slices.ContainsFunc(c.LanguageOptions, func(l string) bool {
		return strings.EqualFold(l, c.VocabularyLanguage)
	}) {
		bad("Vocabulary: with IdentifyLanguage, VocabularyLanguage %q must be one of LanguageOptions", c.VocabularyLanguage)
	}
	if len(c.PIIEntityTypes) > 0 && !c.RedactPII {
		bad("PIIEntityTypes: only with RedactPII")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("awstranscribe: invalid configuration: %w", err)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
