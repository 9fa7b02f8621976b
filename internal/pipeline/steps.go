package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/media"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
)

// ErrInvalid is wrapped by Accept's error for a contact record that
// cannot become a voicemail; the voicemail is stored as failed.
var ErrInvalid = errors.New("invalid voicemail")

// Accept stores a new voicemail and enqueues its first step in one
// transaction. invalid, when not empty, stores it as failed with that reason
// instead. It reports false for a contact already stored: the record was a
// repeat.
func (p *Pipeline) Accept(ctx context.Context, req *voicemail.Request, invalid string) (bool, error) {
	now := p.Now().UTC()
	rec := &voicemail.Record{Request: *req, Status: voicemail.StatusQueued, Run: 1, Steps: map[string]time.Time{}, CreatedAt: now}
	if invalid != "" {
		rec.Status, rec.Error, rec.FailedStep = voicemail.StatusFailed, invalid, "intake"
	}
	var next []Job
	if invalid == "" {
		next = append(next, AudioArgs{ContactID: req.ContactID, Run: 1})
	}
	inserted, err := p.State.Insert(ctx, rec, next...)
	if err != nil {
		return false, fmt.Errorf("pipeline: accept %s: %w", req.ContactID, err)
	}
	switch {
	case invalid != "":
		// A repeat of an invalid record is still invalid, not a duplicate
		// of a voicemail.
		p.Metrics.intake.WithLabelValues("invalid").Inc()
		if inserted {
			p.log(req.ContactID).Warn("invalid voicemail stored as failed", "reason", invalid)
		}
	case !inserted:
		p.Metrics.intake.WithLabelValues("duplicate").Inc()
	default:
		p.Metrics.intake.WithLabelValues("accepted").Inc()
		p.log(req.ContactID).Info("voicemail accepted", "mode", req.Mode)
	}
	return inserted, nil
}

// load reads a voicemail for a step of run. active is false when there is
// nothing to do: the voicemail was deleted while its job waited, a replay
// replaced the run, or it already finished.
func (p *Pipeline) load(ctx context.Context, contactID string, run int) (rec *voicemail.Record, active bool, err error) {
	rec, err = p.State.Get(ctx, contactID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return rec, rec.Run == run && rec.Status == voicemail.StatusQueued, nil
}

// FetchAudio stores the voicemail's WAV and enqueues its transcription.
func (p *Pipeline) FetchAudio(ctx context.Context, contactID string, run int) error {
	rec, active, err := p.load(ctx, contactID, run)
	if err != nil || !active {
		return err
	}
	_, done := rec.Steps[voicemail.StepAudio]
	if !done {
		tmp, err := os.CreateTemp(p.TempDir, "vmx-audio-*.wav")
		if err != nil {
			return fmt.Errorf("audio: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		audio, err := p.Audio.FetchAudio(ctx, &rec.Request, tmp)
		if err != nil {
			return fmt.Errorf("audio: %w", p.waitOver(rec, err))
		}
		if err := p.findSpeech(ctx, rec, tmp); err != nil {
			return err
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("audio: %w", err)
		}
		key := blob.RecordingKey(rec.CallTime, rec.ContactID)
		if err := p.Blobs.Put(ctx, key, tmp, p.attrs(rec, "audio/wav")); err != nil {
			return fmt.Errorf("audio: store %s: %w", key, err)
		}
		rec.AudioKey, rec.DurationMS, rec.AudioSHA = key, audio.DurationMS, audio.SHA256
		rec.Steps[voicemail.StepAudio] = p.Now().UTC()
		p.log(contactID).Info("audio stored", "key", key, "duration_ms", audio.DurationMS)
	}
	return p.commit(ctx, rec, !done, TranscribeArgs{ContactID: contactID, Run: run})
}

// waitOver makes an AudioPendingError permanent once its wait, counted
// from when vmx accepted the voicemail, is over; until then it is retried.
func (p *Pipeline) waitOver(rec *voicemail.Record, err error) error {
	var pending *AudioPendingError
	if !errors.As(err, &pending) {
		return err
	}
	if p.Now().Before(rec.CreatedAt.Add(pending.Wait)) {
		return err
	}
	return retry.Permanent(fmt.Errorf("%w; it did not appear within %s of the voicemail being accepted at %s",
		err, pending.Wait, rec.CreatedAt.UTC().Format(time.RFC3339)))
}

// findSpeech runs the voice-activity detector over the stored WAV: the
// speech span, and whether the voicemail is empty.
func (p *Pipeline) findSpeech(ctx context.Context, rec *voicemail.Record, f *os.File) error {
	if p.Speech == nil {
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("audio: %w", err)
	}
	pcm, err := wav.NewReader(f)
	if err != nil {
		return fmt.Errorf("audio: speech: %w", err)
	}
	det, err := p.Speech(pcm.Format().SampleRate)
	if err != nil {
		return retry.Permanent(fmt.Errorf("audio: speech: %w", err))
	}
	defer det.Close()
	res, err := vad.Analyze(ctx, det, pcm, vad.Options{})
	if err != nil {
		return fmt.Errorf("audio: speech: %w", err)
	}
	rec.Empty, rec.SpeechStartMS, rec.SpeechEndMS = res.Empty, res.Speech.StartMS, res.Speech.EndMS
	return nil
}

// commit records a step's result, when the step was just done, and
// enqueues the jobs that follow it, as one change. Receipts and step
// errors, which other jobs of the voicemail add meanwhile, are kept as
// stored.
func (p *Pipeline) commit(ctx context.Context, rec *voicemail.Record, changed bool, next ...Job) error {
	return p.State.Update(ctx, rec.ContactID, func(cur *voicemail.Record) (bool, []Job, error) {
		if changed {
			receipts, stepErrors := cur.Receipts, cur.StepErrors
			*cur = *rec
			cur.Receipts, cur.StepErrors = receipts, stepErrors
		}
		return changed, next, nil
	})
}

func (p *Pipeline) attrs(rec *voicemail.Record, contentType string) blob.Attrs {
	return blob.Attrs{ContentType: contentType, Metadata: map[string]string{
		"contact-id": rec.ContactID,
		"language":   rec.Language,
		"queue-arn":  rec.QueueARN,
	}}
}

// Transcribe stores the transcript and enqueues packaging. A job for a
// voicemail already transcribed (a retry, a replay, or a transcribe job
// of a vmx before the package step) goes straight on to package.
func (p *Pipeline) Transcribe(ctx context.Context, contactID string, run int) error {
	rec, active, err := p.load(ctx, contactID, run)
	if err != nil || !active {
		return err
	}
	// An unknown mode fails before the transcription is paid for.
	if _, err := p.sinksFor(rec.Mode); err != nil {
		return retry.Permanent(fmt.Errorf("deliver: %w", err))
	}
	_, done := rec.Steps[voicemail.StepTranscribe]
	if !done {
		if err := p.transcribe(ctx, rec); err != nil {
			return err
		}
		rec.Steps[voicemail.StepTranscribe] = p.Now().UTC()
	}
	return p.commit(ctx, rec, !done, PackageArgs{ContactID: contactID, Run: run})
}

// transcribe stores the voicemail's transcript. An empty voicemail is not
// sent to the engine.
func (p *Pipeline) transcribe(ctx context.Context, rec *voicemail.Record) error {
	t := &asr.Result{Engine: "vad", Empty: true, Segments: []asr.Segment{}, AudioMS: rec.DurationMS}
	if !rec.Empty {
		audio, _, err := p.Blobs.Open(ctx, rec.AudioKey)
		if err != nil {
			return fmt.Errorf("transcribe: open %s: %w", rec.AudioKey, err)
		}
		pcm, err := wav.NewReader(audio)
		if err != nil {
			audio.Close()
			return retry.Permanent(fmt.Errorf("transcribe: %s: %w", rec.AudioKey, err))
		}
		t, err = p.Transcriber.Transcribe(ctx,
			asr.Audio{PCM: pcm, SampleRate: pcm.Format().SampleRate, WAVKey: rec.AudioKey},
			asr.Options{Language: rec.Language, ContactID: rec.ContactID})
		audio.Close()
		if err != nil {
			return fmt.Errorf("transcribe: %w", err)
		}
	}
	doc, err := t.TranscribeJSON("vmx_" + rec.ContactID)
	if err != nil {
		return fmt.Errorf("transcribe: %w", err)
	}
	key := blob.TranscriptKey(rec.CallTime, rec.ContactID)
	if err := p.Blobs.Put(ctx, key, bytes.NewReader(doc), p.attrs(rec, "application/json")); err != nil {
		return fmt.Errorf("transcribe: store %s: %w", key, err)
	}
	rec.Transcript, rec.Empty = t.Text, rec.Empty || t.Empty
	return nil
}

// Package readies a transcribed voicemail for its destinations: the queue
// and agent it is for, the summary and the spoken callback number, stored
// together with one delivery job per destination of its mode. A failed
// lookup is retried without transcribing again; a replayed voicemail that
// is packaged has its deliveries fanned out again, and destinations with a
// receipt skip it.
func (p *Pipeline) Package(ctx context.Context, contactID string, run int) error {
	rec, sinks, err := p.loadForDelivery(ctx, contactID, run)
	if err != nil || rec == nil {
		return err
	}
	done := packaged(rec)
	if !done {
		// The lookup, which may fail, comes before the summary, which costs.
		if err := p.route(ctx, rec); err != nil {
			return err
		}
		p.summarize(ctx, rec)
		if p.SpokenNumber != nil {
			rec.SpokenNumber, _ = p.SpokenNumber(rec.Transcript)
		}
		rec.Steps[voicemail.StepPackage] = p.Now().UTC()
	}
	if rec.Empty && p.DropEmpty {
		// Nothing to deliver: the voicemail goes straight to finalize,
		// which resets the contact's flag.
		p.log(contactID).Info("empty voicemail not delivered")
		return p.commit(ctx, rec, !done, FinalizeArgs{ContactID: contactID, Run: run})
	}
	var next []Job
	for _, s := range sinks {
		next = append(next, DeliverArgs{ContactID: contactID, Run: run, Sink: s})
	}
	return p.commit(ctx, rec, !done, next...)
}

// packaged reports whether the package step is done, by this vmx or, as
// part of transcribe, by one before the package step.
func packaged(rec *voicemail.Record) bool {
	return !rec.Steps[voicemail.StepPackage].IsZero() || !rec.Steps[voicemail.StepRoute].IsZero()
}

// summarize writes the summary when asked for; a failed summary is a
// warning, never a reason not to deliver.
func (p *Pipeline) summarize(ctx context.Context, rec *voicemail.Record) {
	if p.Summarizer == nil || rec.Empty {
		return
	}
	summary, err := p.Summarizer.Summarize(ctx, rec)
	if err != nil {
		p.log(rec.ContactID).Warn("summary failed; delivering without one", "err", err)
		rec.Warnings = append(rec.Warnings, "summary failed: "+err.Error())
	}
	rec.Summary = summary
}

// route looks up the queue and agent the voicemail is for.
func (p *Pipeline) route(ctx context.Context, rec *voicemail.Record) error {
	if p.Router == nil {
		rec.Route = voicemail.Route{QueueARN: rec.QueueARN}
		return nil
	}
	r, warnings, err := p.Router.Route(ctx, &rec.Request)
	if err != nil {
		return fmt.Errorf("route: %w", err)
	}
	for _, w := range warnings {
		p.log(rec.ContactID).Warn("route", "warning", w)
	}
	rec.Route, rec.Warnings = r, append(rec.Warnings, warnings...)
	return nil
}

// loadForDelivery reads a voicemail for a step of run with the sinks its
// mode delivers to; a nil voicemail means there is nothing to do (see
// load).
func (p *Pipeline) loadForDelivery(ctx context.Context, contactID string, run int) (*voicemail.Record, []string, error) {
	rec, active, err := p.load(ctx, contactID, run)
	if err != nil || !active {
		return nil, nil, err
	}
	sinks, err := p.sinksFor(rec.Mode)
	if err != nil {
		return nil, nil, retry.Permanent(fmt.Errorf("deliver: %w", err))
	}
	return rec, sinks, nil
}

// DeliveryKey is the idempotency key a destination sees for a voicemail:
// the same on every retry and replay.
func DeliveryKey(contactID, sink string) string { return contactID + ":" + sink }

// Deliver hands the voicemail to one destination, records the receipt, and
// enqueues finalize once every destination has it.
func (p *Pipeline) Deliver(ctx context.Context, contactID string, run int, sink string) error {
	rec, sinks, err := p.loadForDelivery(ctx, contactID, run)
	if err != nil || rec == nil {
		return err
	}
	s, ok := p.Sinks[sink]
	if !ok {
		return retry.Permanent(fmt.Errorf("deliver: sink %q is no longer configured", sink))
	}
	var receipt *voicemail.Receipt
	warning := ""
	if !hasReceipt(rec, sink) {
		key := DeliveryKey(contactID, sink)
		delivered := *rec
		if p.Redact != nil {
			delivered.Transcript = p.Redact(delivered.Transcript)
		}
		link := p.Links.URL(contactID)
		if link == "" {
			warning = noLink(contactID)
			p.log(contactID).Error("voicemail delivered without a media link", "sink", sink, "reason", warning)
			if !slices.Contains(delivered.Warnings, warning) {
				delivered.Warnings = append(slices.Clip(delivered.Warnings), warning)
			}
		}
		detail, err := s.Deliver(ctx, &voicemail.Delivery{
			Record:     delivered,
			MediaURL:   link,
			ReceivedAt: rec.CallTime.In(p.Location),
			OpenAudio: func(ctx context.Context) (io.ReadCloser, error) {
				r, _, err := p.Blobs.Open(ctx, rec.AudioKey)
				return r, err
			},
		}, key)
		if err != nil {
			p.Metrics.deliveries.WithLabelValues(sink, "error").Inc()
			return fmt.Errorf("deliver %s: %w", sink, err)
		}
		p.Metrics.deliveries.WithLabelValues(sink, "ok").Inc()
		receipt = &voicemail.Receipt{Sink: sink, Key: key, Detail: detail, DeliveredAt: p.Now().UTC()}
	}
	// The last destination to get the voicemail enqueues finalize: each
	// checks as its own receipt is stored, so the last one sees them all.
	err = p.State.Update(ctx, contactID, func(cur *voicemail.Record) (bool, []Job, error) {
		save := receipt != nil && !hasReceipt(cur, sink)
		if save {
			cur.Receipts = append(cur.Receipts, *receipt)
			if warning != "" && !slices.Contains(cur.Warnings, warning) {
				cur.Warnings = append(cur.Warnings, warning)
			}
		}
		for _, s := range sinks {
			if !hasReceipt(cur, s) {
				return save, nil, nil
			}
		}
		return save, []Job{FinalizeArgs{ContactID: contactID, Run: run}}, nil
	})
	if err == nil && receipt != nil {
		p.log(contactID).Info("delivered", "sink", sink, "detail", receipt.Detail)
	}
	return err
}

// noLink says why the linker made no link to a voicemail's recording.
func noLink(contactID string) string {
	if !media.ValidContactID(contactID) {
		return fmt.Sprintf("no media link: contact ID %q cannot be in a link", contactID)
	}
	return "no media link: the link could not be signed (check public_url and link_secret)"
}

func hasReceipt(rec *voicemail.Record, sink string) bool {
	for _, r := range rec.Receipts {
		if r.Sink == sink {
			return true
		}
	}
	return false
}

// Finalize runs the finalizer (the flag reset) and marks the voicemail
// delivered.
func (p *Pipeline) Finalize(ctx context.Context, contactID string, run int) error {
	rec, active, err := p.load(ctx, contactID, run)
	if err != nil || !active {
		return err
	}
	for _, f := range p.Finalizers {
		if err := f.Finalize(ctx, rec); err != nil {
			return fmt.Errorf("finalize: %w", err)
		}
	}
	now := p.Now().UTC()
	rec.Steps[voicemail.StepFinalize] = now
	rec.Status = voicemail.StatusDelivered
	if rec.Empty && p.DropEmpty {
		rec.Status = voicemail.StatusEmpty
	}
	if err = p.commit(ctx, rec, true); err == nil {
		p.Metrics.latency.WithLabelValues("total").Observe(now.Sub(rec.CreatedAt).Seconds())
		p.log(contactID).Info("voicemail delivered", "receipts", len(rec.Receipts))
	}
	return err
}

// fail marks the voicemail failed at step with err, after the last attempt
// or a permanent error, and keeps the attempt's error.
func (p *Pipeline) fail(ctx context.Context, contactID string, run int, step string, attempt attemptError) error {
	failed := false
	err := p.State.Update(ctx, contactID, func(rec *voicemail.Record) (bool, []Job, error) {
		if rec.Run != run || rec.Status != voicemail.StatusQueued {
			return false, nil, nil
		}
		rec.Status, rec.Error, rec.FailedStep = voicemail.StatusFailed, attempt.err.Error(), step
		attempt.keep(rec)
		failed = true
		return true, nil, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err == nil && failed {
		p.Metrics.failures.WithLabelValues(step).Inc()
		p.log(contactID).Error("voicemail failed", "step", step, "err", attempt.err)
	}
	return err
}

// ErrNotFailed is returned by Retry for a voicemail that has not failed.
var ErrNotFailed = errors.New("voicemail has not failed")

// Retry replays a failed voicemail from the step that failed, as a new run:
// destinations that already have it keep their receipts and are not sent
// it again.
func (p *Pipeline) Retry(ctx context.Context, contactID string) (*voicemail.Record, error) {
	var out *voicemail.Record
	err := p.State.Update(ctx, contactID, func(rec *voicemail.Record) (bool, []Job, error) {
		if rec.Status != voicemail.StatusFailed {
			return false, nil, fmt.Errorf("%w: %s is %s", ErrNotFailed, contactID, rec.Status)
		}
		if rec.FailedStep == "intake" {
			return false, nil, fmt.Errorf("%w: the contact record was invalid: %s", ErrInvalid, rec.Error)
		}
		rec.Run++
		rec.Status, rec.Error, rec.FailedStep = voicemail.StatusQueued, "", ""
		out = rec
		return true, []Job{firstUndone(rec)}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: retry %s: %w", contactID, err)
	}
	p.log(contactID).Info("voicemail replayed", "run", out.Run)
	return out, nil
}

// firstUndone is the job that resumes a voicemail. Past the transcript,
// package resumes: it fans the deliveries out again, and destinations that
// have a receipt are skipped.
func firstUndone(rec *voicemail.Record) Job {
	switch {
	case rec.Steps[voicemail.StepAudio].IsZero():
		return AudioArgs{ContactID: rec.ContactID, Run: rec.Run}
	case rec.Steps[voicemail.StepTranscribe].IsZero():
		return TranscribeArgs{ContactID: rec.ContactID, Run: rec.Run}
	}
	return PackageArgs{ContactID: rec.ContactID, Run: rec.Run}
}
