// Package awstranscribe is the "aws" speech to text engine: batch jobs of
// Amazon Transcribe on the recordings vmx stores in S3.
//
// A job is named after the contact (vmx_<contactId>), so a retried
// transcription finds the job the first attempt started instead of paying
// for a second one: StartTranscriptionJob's ConflictException is read as
// "the job exists" and the engine waits for that job. The engine polls
// with exponential back-off until the job ends or Config.Timeout passes;
// a job still running then stays running for the retry to find.
//
// Transcribe writes its output next to the recording
// (recordings/…/<cid>.wav → transcripts/…/<cid>.json in the output
// bucket); the engine reads it back through a Fetcher and turns it into an
// asr.Result.
//
// A FAILED job is not an error: VMX lost such voicemails (its error
// handler wrote a stub transcript where the packager never looked), vmx
// delivers them. Transcribe returns a Result whose Text is
// "Transcription failed: <FailureReason>" with a nil error, so delivery
// proceeds with the recording; Run returns the same with Job.Failed set,
// and Failed tells such a Result apart.
//
// Errors are classified for the pipeline (package retry): throttling,
// LimitExceeded and 5xx are retry.After(Config.RetryDelay), requests
// Transcribe rejects (BadRequest, a missing contact ID or WAV key) are
// retry.Permanent. Jobs stay in Transcribe until Delete, which the
// finalize step calls.
package awstranscribe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/transcribe"
	"github.com/aws/aws-sdk-go-v2/service/transcribe/types"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/retry"
)

// Name is the engine's name, and the Engine of its Results.
const Name = "aws"

// FailedPrefix starts the Text of the Result of a FAILED job.
const FailedPrefix = "Transcription failed: "

// maxJobName is Transcribe's limit on job names.
const maxJobName = 200

// API is the part of *transcribe.Client the engine uses.
type API interface {
	StartTranscriptionJob(ctx context.Context, in *transcribe.StartTranscriptionJobInput, optFns ...func(*transcribe.Options)) (*transcribe.StartTranscriptionJobOutput, error)
	GetTranscriptionJob(ctx context.Context, in *transcribe.GetTranscriptionJobInput, optFns ...func(*transcribe.Options)) (*transcribe.GetTranscriptionJobOutput, error)
	DeleteTranscriptionJob(ctx context.Context, in *transcribe.DeleteTranscriptionJobInput, optFns ...func(*transcribe.Options)) (*transcribe.DeleteTranscriptionJobOutput, error)
}

// Engine transcribes with Amazon Transcribe. It is safe for concurrent
// use.
type Engine struct {
	api   API
	fetch Fetcher
	cfg   Config
}

// Job is the outcome of one Run.
type Job struct {
	Name   string
	Status types.TranscriptionJobStatus // COMPLETED or FAILED
	// Failed is set when Transcribe failed the job (FailureReason says
	// why) or its transcript could not be read; Result.Text then starts
	// with FailedPrefix.
	Failed        bool
	FailureReason string
	// Resumed is set when the job existed before this Run started it.
	Resumed bool
	// Language is the job's language: the one asked for, or the one
	// Transcribe identified.
	Language string
	// Redacted is set when the job was asked to redact PII.
	Redacted bool
	// Bucket and Key locate the transcript read (COMPLETED jobs).
	Bucket, Key string
	Result      *asr.Result
}

// New returns an engine that runs jobs through api and reads their output
// through fetch (S3Fetcher in production).
func New(api API, fetch Fetcher, cfg Config) (*Engine, error) {
	if api == nil || fetch == nil {
		return nil, errors.New("awstranscribe: nil client or fetcher")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Engine{api: api, fetch: fetch, cfg: cfg}, nil
}

// Name returns "aws".
func (e *Engine) Name() string { return Name }

// Transcribe runs the job for a.WAVKey and returns its transcript; see Run.
// Only a.WAVKey is read: Transcribe fetches the recording from S3 itself.
func (e *Engine) Transcribe(ctx context.Context, a asr.Audio, opts asr.Options) (*asr.Result, error) {
	job, err := e.Run(ctx, a, opts)
	if err != nil {
		return nil, err
	}
	return job.Result, nil
}

// Failed reports whether r is the Result of a job Transcribe failed: the
// voicemail is delivered, with the reason instead of a transcript.
func Failed(r *asr.Result) bool {
	return r != nil && r.Engine == Name && strings.HasPrefix(r.Text, FailedPrefix)
}

// JobName returns the job name of a contact: vmx_<contactId>, with the
// characters Transcribe does not allow in names replaced by '_'.
func JobName(contactID string) string {
	b := []byte("vmx_" + contactID)
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), maxJobName)])
}

// ContactIDFromJobName returns the contact of a job JobName named, for
// Transcribe's job state change events; false for a job vmx did not name.
// Contact IDs are UUIDs, which JobName keeps as they are.
func ContactIDFromJobName(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, "vmx_")
	return id, ok && id != ""
}

// OutputKey returns the key Transcribe writes the transcript of wavKey
// to: the leading "recordings/" replaced by Config.OutputPrefix (or the
// prefix added) and ".wav" by ".json".
func (e *Engine) OutputKey(wavKey string) string {
	k := strings.TrimPrefix(wavKey, "recordings/")
	if ext := path.Ext(k); strings.EqualFold(ext, ".wav") {
		k = strings.TrimSuffix(k, ext)
	}
	return e.cfg.OutputPrefix + k + ".json"
}

// Run transcribes the recording a.WAVKey of contact opts.ContactID: it
// starts job JobName(opts.ContactID), or resumes it if it exists, waits
// for it, and reads its transcript. A FAILED job gives a nil error and a
// Job with Failed set.
func (e *Engine) Run(ctx context.Context, a asr.Audio, opts asr.Options) (*Job, error) {
	if opts.ContactID == "" {
		return nil, retry.Permanent(errors.New("awstranscribe: no contact id to name the job"))
	}
	if a.WAVKey == "" {
		return nil, retry.Permanent(fmt.Errorf("awstranscribe: contact %s: no WAV key", opts.ContactID))
	}
	ctx, cancel := context.WithTimeoutCause(ctx, e.cfg.Timeout, timeoutError{})
	defer cancel()

	in := e.startInput(a.WAVKey, opts)
	name := *in.TranscriptionJobName
	// A job whose transcript is gone is run again, once.
	for attempt := 0; ; attempt++ {
		tj, resumed, err := e.start(ctx, in)
		if err != nil {
			return nil, err
		}
		if tj, err = e.wait(ctx, name, tj); err != nil {
			return nil, err
		}
		job, err := e.finish(ctx, tj, in)
		if errors.Is(err, fs.ErrNotExist) && attempt == 0 {
			if err := e.Delete(ctx, opts.ContactID); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		job.Resumed = resumed
		return job, nil
	}
}

// timeoutError is the cause of a Run's context reaching Config.Timeout.
type timeoutError struct{}

func (timeoutError) Error() string { return "awstranscribe: timeout" }

// startInput builds the StartTranscriptionJob request for wavKey.
func (e *Engine) startInput(wavKey string, opts asr.Options) *transcribe.StartTranscriptionJobInput {
	c := e.cfg
	lang := opts.Language
	if lang == "" {
		lang = c.DefaultLanguage
	}
	in := &transcribe.StartTranscriptionJobInput{
		TranscriptionJobName: aws.String(JobName(opts.ContactID)),
		Media:                &types.Media{MediaFileUri: aws.String("s3://" + c.Bucket + "/" + wavKey)},
		MediaFormat:          types.MediaFormatWav,
		OutputBucketName:     aws.String(c.OutputBucket),
		OutputKey:            aws.String(e.OutputKey(wavKey)),
	}
	if c.OutputKMSKey != "" {
		in.OutputEncryptionKMSKeyId = aws.String(c.OutputKMSKey)
	}
	if c.IdentifyLanguage {
		in.IdentifyLanguage = aws.Bool(true)
		for _, l := range c.LanguageOptions {
			in.LanguageOptions = append(in.LanguageOptions, types.LanguageCode(l))
		}
		if c.Vocabulary != "" {
			in.LanguageIdSettings = map[string]types.LanguageIdSettings{
				c.VocabularyLanguage: {VocabularyName: aws.String(c.Vocabulary)},
			}
		}
		return in
	}
	in.LanguageCode = types.LanguageCode(lang)
	if c.Vocabulary != "" && strings.EqualFold(lang, c.VocabularyLanguage) {
		in.Settings = &types.Settings{VocabularyName: aws.String(c.Vocabulary)}
	}
	if c.RedactPII && slices.ContainsFunc(c.RedactLanguages, func(l string) bool { return strings.EqualFold(l, lang) }) {
		in.ContentRedaction = &types.ContentRedaction{
			RedactionType:   types.RedactionTypePii,
			RedactionOutput: types.RedactionOutputRedacted,
		}
		for _, t := range c.PIIEntityTypes {
			in.ContentRedaction.PiiEntityTypes = append(in.ContentRedaction.PiiEntityTypes, types.PiiEntityType(t))
		}
	}
	return in
}

// start starts the job, or reads it if it exists. resumed tells which.
func (e *Engine) start(ctx context.Context, in *transcribe.StartTranscriptionJobInput) (*types.TranscriptionJob, bool, error) {
	name := *in.TranscriptionJobName
	// Start, and Get on conflict; a job deleted between the two is
	// started again, once.
	for range 2 {
		out, err := e.api.StartTranscriptionJob(ctx, in)
		if err == nil {
			if out.TranscriptionJob == nil {
				// The job was accepted; its state comes with the first poll.
				return &types.TranscriptionJob{TranscriptionJobName: in.TranscriptionJobName,
					TranscriptionJobStatus: types.TranscriptionJobStatusQueued}, false, nil
			}
			return out.TranscriptionJob, false, nil
		}
		if !hasCode(err, "ConflictException") {
			return nil, false, e.fail(ctx, fmt.Errorf("awstranscribe: start job %s: %w", name, err))
		}
		tj, err := e.get(ctx, name)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, false, e.fail(ctx, err)
		}
		return tj, true, nil
	}
	return nil, false, retry.After(e.cfg.RetryDelay,
		fmt.Errorf("awstranscribe: job %s conflicts on start but is not found", name))
}

func (e *Engine) get(ctx context.Context, name string) (*types.TranscriptionJob, error) {
	out, err := e.api.GetTranscriptionJob(ctx, &transcribe.GetTranscriptionJobInput{TranscriptionJobName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("awstranscribe: get job %s: %w", name, err)
	}
	if out.TranscriptionJob == nil {
		return nil, fmt.Errorf("awstranscribe: get job %s: no job in the answer", name)
	}
	return out.TranscriptionJob, nil
}

// wait polls job name from its state tj until it is COMPLETED or FAILED,
// waiting PollInitial, then twice as long each time up to PollMax.
// Throttled and failed polls are polled again.
func (e *Engine) wait(ctx context.Context, name string, tj *types.TranscriptionJob) (*types.TranscriptionJob, error) {
	delay := e.cfg.PollInitial
	var lastErr error
	for {
		if tj != nil {
			switch tj.TranscriptionJobStatus {
			case types.TranscriptionJobStatusCompleted, types.TranscriptionJobStatusFailed:
				return tj, nil
			}
		}
		if err := e.cfg.Sleep(ctx, delay); err != nil {
			return nil, e.fail(ctx, e.stillRunning(name, tj, lastErr, err))
		}
		delay = min(2*delay, e.cfg.PollMax)
		got, err := e.get(ctx, name)
		switch {
		case err == nil:
			tj, lastErr = got, nil
		case ctx.Err() != nil:
			return nil, e.fail(ctx, e.stillRunning(name, tj, err, context.Cause(ctx)))
		case isNotFound(err):
			// Deleted while running: the retry starts it again.
			return nil, retry.After(e.cfg.RetryDelay, err)
		default:
			// Throttled or a server error: poll again; anything else ends
			// the wait.
			c := classify(err, e.cfg.RetryDelay)
			if _, later := retry.Delay(c); !later {
				return nil, c
			}
			lastErr = err
		}
	}
}

// stillRunning describes a wait cut short by cause.
func (e *Engine) stillRunning(name string, tj *types.TranscriptionJob, lastErr, cause error) error {
	status := "unknown"
	if tj != nil {
		status = string(tj.TranscriptionJobStatus)
	}
	err := fmt.Errorf("awstranscribe: job %s still %s: %w", name, status, cause)
	if lastErr != nil {
		err = fmt.Errorf("%w (last poll: %w)", err, lastErr)
	}
	return err
}

// fail classifies err; a wait that reached Config.Timeout, while the
// caller's context is still live, is retried after RetryDelay.
func (e *Engine) fail(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), timeoutError{}) {
		return retry.After(e.cfg.RetryDelay, err)
	}
	if ctx.Err() != nil {
		return err
	}
	return classify(err, e.cfg.RetryDelay)
}

// finish reads the outcome of the ended job tj.
func (e *Engine) finish(ctx context.Context, tj *types.TranscriptionJob, in *transcribe.StartTranscriptionJobInput) (*Job, error) {
	job := &Job{
		Name:     aws.ToString(in.TranscriptionJobName),
		Status:   tj.TranscriptionJobStatus,
		Language: string(tj.LanguageCode),
		Redacted: tj.ContentRedaction != nil,
	}
	if job.Language == "" {
		job.Language = string(in.LanguageCode)
	}
	if tj.TranscriptionJobStatus == types.TranscriptionJobStatusFailed {
		reason := aws.ToString(tj.FailureReason)
		if reason == "" {
			reason = "no reason given"
		}
		job.failed(reason)
		return job, nil
	}
	job.Bucket, job.Key = aws.ToString(in.OutputBucketName), aws.ToString(in.OutputKey)
	if t := tj.Transcript; t != nil {
		uri := aws.ToString(t.RedactedTranscriptFileUri)
		if uri == "" {
			uri = aws.ToString(t.TranscriptFileUri)
		}
		if b, k, ok := s3Location(uri); ok {
			job.Bucket, job.Key = b, k
		}
	}
	body, err := e.fetch.Fetch(ctx, job.Bucket, job.Key)
	if err != nil {
		return nil, fmt.Errorf("awstranscribe: job %s: read transcript: %w", job.Name, err)
	}
	doc, err := io.ReadAll(io.LimitReader(body, maxTranscript+1))
	body.Close()
	if err != nil {
		return nil, fmt.Errorf("awstranscribe: job %s: read transcript s3://%s/%s: %w", job.Name, job.Bucket, job.Key, err)
	}
	res, err := parseTranscript(doc)
	if err != nil {
		// A transcript that cannot be read is delivered like a failed job,
		// not retried forever.
		job.failed(fmt.Sprintf("unreadable transcript s3://%s/%s: %v", job.Bucket, job.Key, err))
		return job, nil
	}
	job.Result = res
	return job, nil
}

// failed makes j a failed job's outcome.
func (j *Job) failed(reason string) {
	j.Failed, j.FailureReason = true, reason
	j.Result = &asr.Result{Engine: Name, Text: FailedPrefix + reason, Segments: []asr.Segment{}}
}

// Delete deletes the job of a contact, for the finalize step. A job that
// does not exist is deleted already. The transcript Transcribe wrote stays.
func (e *Engine) Delete(ctx context.Context, contactID string) error {
	name := JobName(contactID)
	_, err := e.api.DeleteTranscriptionJob(ctx, &transcribe.DeleteTranscriptionJobInput{TranscriptionJobName: aws.String(name)})
	if err == nil || isNotFound(err) {
		return nil
	}
	return classify(fmt.Errorf("awstranscribe: delete job %s: %w", name, err), e.cfg.RetryDelay)
}

var (
	_ asr.Engine = (*Engine)(nil)
	_ API        = (*transcribe.Client)(nil)
)
