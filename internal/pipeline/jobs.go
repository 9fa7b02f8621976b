package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Job kinds and arguments are a stored wire format: a kind is never
// renamed. Arguments hold ids, never audio. Each kind is unique by its
// arguments, so a step enqueued twice runs once.

// AudioArgs fetch and store a voicemail's audio.
type AudioArgs struct {
	ContactID string `json:"contact_id"`
	Run       int    `json:"run"`
}

// TranscribeArgs transcribe a voicemail.
type TranscribeArgs struct {
	ContactID string `json:"contact_id"`
	Run       int    `json:"run"`
}

// PackageArgs ready a transcribed voicemail for delivery and fan out its
// deliveries.
type PackageArgs struct {
	ContactID string `json:"contact_id"`
	Run       int    `json:"run"`
}

// DeliverArgs deliver a voicemail to one destination.
type DeliverArgs struct {
	ContactID string `json:"contact_id"`
	Run       int    `json:"run"`
	Sink      string `json:"sink"`
}

// FinalizeArgs finish a voicemail once every destination has it.
type FinalizeArgs struct {
	ContactID string `json:"contact_id"`
	Run       int    `json:"run"`
}

func (AudioArgs) Kind() string      { return "vmx_audio" }
func (TranscribeArgs) Kind() string { return "vmx_transcribe" }
func (PackageArgs) Kind() string    { return "vmx_package" }
func (DeliverArgs) Kind() string    { return "vmx_deliver" }
func (FinalizeArgs) Kind() string   { return "vmx_finalize" }

func uniqueByArgs() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

func (AudioArgs) InsertOpts() river.InsertOpts      { return uniqueByArgs() }
func (TranscribeArgs) InsertOpts() river.InsertOpts { return uniqueByArgs() }
func (PackageArgs) InsertOpts() river.InsertOpts    { return uniqueByArgs() }
func (DeliverArgs) InsertOpts() river.InsertOpts    { return uniqueByArgs() }
func (FinalizeArgs) InsertOpts() river.InsertOpts   { return uniqueByArgs() }

func (a AudioArgs) Contact() (string, int)      { return a.ContactID, a.Run }
func (a TranscribeArgs) Contact() (string, int) { return a.ContactID, a.Run }
func (a PackageArgs) Contact() (string, int)    { return a.ContactID, a.Run }
func (a DeliverArgs) Contact() (string, int)    { return a.ContactID, a.Run }
func (a FinalizeArgs) Contact() (string, int)   { return a.ContactID, a.Run }

// Workers returns River workers that run the steps.
func (p *Pipeline) Workers() *river.Workers {
	w := river.NewWorkers()
	river.AddWorker(w, &stepWorker[AudioArgs]{p: p})
	river.AddWorker(w, &stepWorker[TranscribeArgs]{p: p})
	river.AddWorker(w, &stepWorker[PackageArgs]{p: p})
	river.AddWorker(w, &stepWorker[DeliverArgs]{p: p})
	river.AddWorker(w, &stepWorker[FinalizeArgs]{p: p})
	river.AddWorker(w, river.WorkFunc(func(ctx context.Context, job *river.Job[RetentionArgs]) error {
		return p.Retention(ctx)
	}))
	return w
}

// stepWorker adapts Run to River: a step that gave up cancels its job, a
// requested delay snoozes it.
type stepWorker[T Job] struct {
	river.WorkerDefaults[T]
	p *Pipeline
}

// lastAttemptRetry is how soon a job whose last attempt did not give up
// runs again: its failure could not be recorded.
const lastAttemptRetry = 2 * time.Second

func (w *stepWorker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	gaveUp, err := w.p.Run(ctx, job.Args, job.Attempt, job.MaxAttempts)
	switch {
	case err == nil:
		return nil
	case gaveUp:
		return river.JobCancel(err)
	}
	if d, ok := retry.Delay(err); ok {
		return river.JobSnooze(d)
	}
	if job.Attempt >= job.MaxAttempts {
		// River would discard the job and leave the voicemail queued for
		// good; a snooze does not count as an attempt.
		return river.JobSnooze(lastAttemptRetry)
	}
	return err
}

// Run runs job, its attempt-th attempt of maxAttempts: the one entry point
// of every runner (River here, SQS on Lambda). A nil error means the step
// is done. Otherwise the step is retried later (retry.Delay may say when)
// unless gaveUp: the error was permanent or the attempt the last, and the
// voicemail is now marked failed. The error of every failed attempt is
// kept in the voicemail's StepErrors.
func (p *Pipeline) Run(ctx context.Context, job Job, attempt, maxAttempts int) (gaveUp bool, err error) {
	start := p.Now()
	var step string
	switch a := job.(type) {
	case AudioArgs:
		step, err = voicemail.StepAudio, p.FetchAudio(ctx, a.ContactID, a.Run)
	case TranscribeArgs:
		step, err = voicemail.StepTranscribe, p.Transcribe(ctx, a.ContactID, a.Run)
	case PackageArgs:
		step, err = voicemail.StepPackage, p.Package(ctx, a.ContactID, a.Run)
	case DeliverArgs:
		step, err = voicemail.StepDeliver, p.Deliver(ctx, a.ContactID, a.Run, a.Sink)
	case FinalizeArgs:
		step, err = voicemail.StepFinalize, p.Finalize(ctx, a.ContactID, a.Run)
	default:
		return true, fmt.Errorf("pipeline: unknown job %T", job)
	}
	p.Metrics.steps.WithLabelValues(step, outcome(err)).Inc()
	p.Metrics.latency.WithLabelValues(step).Observe(p.Now().Sub(start).Seconds())
	if err == nil {
		return false, nil
	}
	id, run := job.Contact()
	failed := attemptError{key: stepErrorKey(job, step), err: err, attempt: attempt, at: p.Now().UTC().Truncate(time.Millisecond)}
	// Waiting for audio that is not there yet is not a failed attempt: on
	// SQS every receive counts, and the wait has its own deadline.
	_, waiting := errors.AsType[*AudioPendingError](err)
	if retry.IsPermanent(err) || (attempt >= maxAttempts && !waiting) {
		if ferr := p.fail(ctx, id, run, step, failed); ferr != nil {
			// Retried: the failure must be recorded.
			p.log(id).Error("step gave up but the failure could not be recorded; it runs again", "step", step, "err", err, "record_err", ferr)
			return false, fmt.Errorf("pipeline: record failure of %s: %w", step, ferr)
		}
		return true, err
	}
	p.log(id).Warn("step failed, will retry", "step", step, "attempt", attempt, "err", err)
	if kerr := p.keepError(ctx, id, run, failed); kerr != nil {
		p.log(id).Warn("step error not kept on the voicemail", "step", step, "err", kerr)
	}
	return false, err
}

// attemptError is a failed attempt of a step, as StepErrors keep it.
type attemptError struct {
	key     string
	err     error
	attempt int
	at      time.Time
}

func (a attemptError) keep(rec *voicemail.Record) {
	if rec.StepErrors == nil {
		rec.StepErrors = map[string]voicemail.StepError{}
	}
	rec.StepErrors[a.key] = voicemail.StepError{Error: a.err.Error(), Attempt: a.attempt, At: a.at}
}

// stepErrorKey is the step, and for a delivery its destination: each has
// jobs of its own.
func stepErrorKey(job Job, step string) string {
	if d, ok := job.(DeliverArgs); ok {
		return step + ":" + d.Sink
	}
	return step
}

// keepError stores a failed attempt of a step that will be retried.
func (p *Pipeline) keepError(ctx context.Context, contactID string, run int, a attemptError) error {
	err := p.State.Update(ctx, contactID, func(rec *voicemail.Record) (bool, []Job, error) {
		if rec.Run != run || rec.Status != voicemail.StatusQueued {
			return false, nil, nil
		}
		a.keep(rec)
		return true, nil, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// DecodeJob reads a job from its kind and JSON arguments, as a runner
// other than River carries them.
func DecodeJob(kind string, args []byte) (Job, error) {
	var job Job
	var err error
	switch kind {
	case AudioArgs{}.Kind():
		job, err = decodeArgs[AudioArgs](args)
	case TranscribeArgs{}.Kind():
		job, err = decodeArgs[TranscribeArgs](args)
	case PackageArgs{}.Kind():
		job, err = decodeArgs[PackageArgs](args)
	case DeliverArgs{}.Kind():
		job, err = decodeArgs[DeliverArgs](args)
	case FinalizeArgs{}.Kind():
		job, err = decodeArgs[FinalizeArgs](args)
	default:
		return nil, fmt.Errorf("pipeline: unknown job kind %q", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline: job %s: %w", kind, err)
	}
	if id, run := job.Contact(); id == "" || run < 1 {
		return nil, fmt.Errorf("pipeline: job %s: contact_id and run are required", kind)
	}
	return job, nil
}

func decodeArgs[T Job](b []byte) (T, error) {
	var a T
	err := json.Unmarshal(b, &a)
	return a, err
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// RetentionArgs run the retention sweep.
type RetentionArgs struct{}

func (RetentionArgs) Kind() string { return "vmx_retention" }

// RetentionJob runs the retention sweep every interval.
func RetentionJob(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
