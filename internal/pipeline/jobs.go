package pipeline

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/vmx-dev/vmx/internal/retry"
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

// TranscribeArgs transcribe a voicemail and fan out its deliveries.
type TranscribeArgs struct {
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
func (DeliverArgs) Kind() string    { return "vmx_deliver" }
func (FinalizeArgs) Kind() string   { return "vmx_finalize" }

func uniqueByArgs() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

func (AudioArgs) InsertOpts() river.InsertOpts      { return uniqueByArgs() }
func (TranscribeArgs) InsertOpts() river.InsertOpts { return uniqueByArgs() }
func (DeliverArgs) InsertOpts() river.InsertOpts    { return uniqueByArgs() }
func (FinalizeArgs) InsertOpts() river.InsertOpts   { return uniqueByArgs() }

// contactArgs are the arguments of every step job.
type contactArgs interface {
	river.JobArgs
	contact() (id string, run int)
}

func (a AudioArgs) contact() (string, int)      { return a.ContactID, a.Run }
func (a TranscribeArgs) contact() (string, int) { return a.ContactID, a.Run }
func (a DeliverArgs) contact() (string, int)    { return a.ContactID, a.Run }
func (a FinalizeArgs) contact() (string, int)   { return a.ContactID, a.Run }

// Workers returns River workers that run the steps.
func (p *Pipeline) Workers() *river.Workers {
	w := river.NewWorkers()
	river.AddWorker(w, &stepWorker[AudioArgs]{p: p, step: voicemail.StepAudio, run: func(ctx context.Context, a AudioArgs) error {
		return p.FetchAudio(ctx, a.ContactID, a.Run)
	}})
	river.AddWorker(w, &stepWorker[TranscribeArgs]{p: p, step: voicemail.StepTranscribe, run: func(ctx context.Context, a TranscribeArgs) error {
		return p.Transcribe(ctx, a.ContactID, a.Run)
	}})
	river.AddWorker(w, &stepWorker[DeliverArgs]{p: p, step: voicemail.StepDeliver, run: func(ctx context.Context, a DeliverArgs) error {
		return p.Deliver(ctx, a.ContactID, a.Run, a.Sink)
	}})
	river.AddWorker(w, &stepWorker[FinalizeArgs]{p: p, step: voicemail.StepFinalize, run: func(ctx context.Context, a FinalizeArgs) error {
		return p.Finalize(ctx, a.ContactID, a.Run)
	}})
	river.AddWorker(w, river.WorkFunc(func(ctx context.Context, job *river.Job[RetentionArgs]) error {
		return p.Retention(ctx)
	}))
	return w
}

// stepWorker adapts a step to River: permanent errors cancel the job, a
// requested delay snoozes it, and the voicemail is marked failed when the
// step gives up.
type stepWorker[T contactArgs] struct {
	river.WorkerDefaults[T]
	p    *Pipeline
	step string
	run  func(context.Context, T) error
}

func (w *stepWorker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	start := w.p.Now()
	err := w.run(ctx, job.Args)
	w.p.Metrics.steps.WithLabelValues(w.step, outcome(err)).Inc()
	w.p.Metrics.latency.WithLabelValues(w.step).Observe(w.p.Now().Sub(start).Seconds())
	if err == nil {
		return nil
	}
	id, run := job.Args.contact()
	if retry.IsPermanent(err) || job.Attempt >= job.MaxAttempts {
		if ferr := w.p.fail(ctx, id, run, w.step, err); ferr != nil {
			return ferr // retried: the failure must be recorded
		}
		return river.JobCancel(err)
	}
	w.p.log(id).Warn("step failed, will retry", "step", w.step, "attempt", job.Attempt, "err", err)
	if d, ok := retry.Delay(err); ok {
		return river.JobSnooze(d)
	}
	return err
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
