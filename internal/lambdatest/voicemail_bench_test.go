//go:build linux

package lambdatest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vmx-dev/vmx/internal/awsstate"
	"github.com/vmx-dev/vmx/internal/awsstate/awsstatetest"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/lambdatest"
	"github.com/vmx-dev/vmx/internal/pipeline"
	vm "github.com/vmx-dev/vmx/internal/voicemail"
)

// BenchmarkVoicemail takes 1-, 5- and 25-minute voicemails through vmx's
// pipeline functions as Lambda runs them, each at 128 MB with the limit
// enforced: per iteration a new contact, the ctr function started cold
// and invoked with its contact record, then the step function started
// cold and invoked with the step queue's messages until the webhook has
// the voicemail. It reports Lambda's measures: ctr-init-ms and
// step-init-ms (Init Duration), step-init-MB (peak RSS when init ends),
// ctr-ms and ctr-MB (Duration and Max Memory Used of the ctr
// invocation), and for each step, e.g. audio, audio-ms (mean Duration)
// and audio-MB (the largest Max Memory Used of its invocations).
func BenchmarkVoicemail(b *testing.B) {
	for _, d := range []time.Duration{time.Minute, 5 * time.Minute, 25 * time.Minute} {
		b.Run(fmt.Sprintf("call=%v", d), func(b *testing.B) {
			e := newPipelineEnv(b)
			c := newCall(d)
			var ctrInit, stepInit, ctrTime time.Duration
			var ctrPeak, stepInitPeak int64
			stepTime := map[string]time.Duration{}
			stepPeak := map[string]int64{}
			n := 0
			for b.Loop() {
				n++
				contact := fmt.Sprintf("c0ffee%02d-0000-4000-8000-%012d", int(d.Minutes()), n)
				run := e.runVoicemail(b, c, contact, n)
				ctrInit += run.ctrInit
				stepInit += run.stepInit
				ctrTime += run.ctr.Duration
				ctrPeak = max(ctrPeak, run.ctrInitPeak, run.ctr.PeakRSS)
				stepInitPeak = max(stepInitPeak, run.stepInitPeak)
				for _, s := range run.steps {
					stepTime[s.kind] += s.Duration
					stepPeak[s.kind] = max(stepPeak[s.kind], s.PeakRSS)
				}
			}
			ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(n) }
			mb := func(n int64) float64 { return float64(n) / (1 << 20) }
			b.ReportMetric(ms(ctrInit), "ctr-init-ms")
			b.ReportMetric(ms(ctrTime), "ctr-ms")
			b.ReportMetric(mb(ctrPeak), "ctr-MB")
			b.ReportMetric(ms(stepInit), "step-init-ms")
			b.ReportMetric(mb(stepInitPeak), "step-init-MB")
			for kind, t := range stepTime {
				b.ReportMetric(ms(t), kind+"-ms")
				b.ReportMetric(mb(stepPeak[kind]), kind+"-MB")
			}
		})
	}
}

// BenchmarkColdStartPipeline starts each of the pipeline's other
// functions as Lambda would (a new process per iteration, 128 MB,
// enforced), invokes it once and reports Lambda's measures, as
// BenchmarkColdStart does: init-ms, init-MB, invoke-ms and peak-MB. The
// invocations are light, so that init dominates: ctr stores a new
// contact's record and queues its first step; step gets a repeat of a
// delivered voicemail's audio step (one read, nothing to do);
// transcribe-event gets a job state change for it (one read, nothing
// to queue); media redirects its link to S3.
func BenchmarkColdStartPipeline(b *testing.B) {
	e := newPipelineEnv(b)
	const delivered = "c0ffee00-0000-4000-8000-00000000cafe"
	run := e.runVoicemail(b, newCall(10*time.Second), delivered, 0)
	ctx := context.Background()
	nothingSent := func(check func([]byte) error) func(int, []byte) error {
		sent := e.queue.Calls("SendMessage")
		return func(_ int, out []byte) error {
			if err := check(out); err != nil {
				return err
			}
			if n := e.queue.Calls("SendMessage") - sent; n != 0 {
				return fmt.Errorf("answer %s, and %d steps sent for a delivered voicemail", out, n)
			}
			return nil
		}
	}

	b.Run("ctr", func(b *testing.B) {
		stream := kvssim.ARN("us-east-1", "111122223333", callStream, callTime)
		contact := func(i int) string { return fmt.Sprintf("c0ffee99-0000-4000-8000-%012d", i) }
		coldStartsWith(b, e.function("ctr"),
			func(i int) []byte {
				return kinesisEvent(b, ctrRecord(b, contact(i), stream, "91343852333181432392682062622220590765191907586", "", time.Minute), i)
			},
			func(i int, out []byte) error {
				if n := batchFailures(b, out); n != 0 {
					return fmt.Errorf("answer %s", out)
				}
				rec, err := e.state.Get(ctx, contact(i))
				if err != nil || rec.Status != vm.StatusQueued {
					return fmt.Errorf("record %+v, %v", rec, err)
				}
				return nil
			})
	})
	b.Run("step", func(b *testing.B) {
		body, err := awsstate.EncodeJob(pipeline.AudioArgs{ContactID: delivered, Run: 1})
		if err != nil {
			b.Fatal(err)
		}
		coldStartsWith(b, e.function("step"),
			func(i int) []byte {
				id := fmt.Sprintf("6f1c2b1e-0000-4000-8000-%012d", 900000+i)
				return sqsEvent(b, []awsstatetest.Message{{ID: id, Body: body, GroupID: delivered, ReceiptHandle: "AQEB" + id + "-2", Receives: 2}})
			},
			nothingSent(func(out []byte) error {
				if batchFailures(b, out) != 0 {
					return fmt.Errorf("answer %s", out)
				}
				return nil
			}))
	})
	b.Run("transcribe-event", func(b *testing.B) {
		detail, _ := json.Marshal(map[string]string{"TranscriptionJobName": "vmx_" + delivered, "TranscriptionJobStatus": "COMPLETED"})
		event, err := json.Marshal(events.EventBridgeEvent{Version: "0", ID: "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
			DetailType: "Transcribe Job State Change", Source: "aws.transcribe", AccountID: "111122223333",
			Time: callTime.Add(2 * time.Minute), Region: "us-east-1", Resources: []string{}, Detail: detail})
		if err != nil {
			b.Fatal(err)
		}
		coldStartsWith(b, e.function("transcribe-event"), func(int) []byte { return event },
			nothingSent(func(out []byte) error {
				if string(out) != "null" {
					return fmt.Errorf("answer %s", out)
				}
				return nil
			}))
	})
	b.Run("media", func(b *testing.B) {
		event := mediaEvent(b, run.delivery.MediaURL)
		coldStartsWith(b, e.function("media"), func(int) []byte { return event },
			func(_ int, out []byte) error { _, err := e.mediaRedirect(out); return err })
	})
}

// coldStartsWith measures cold starts of cfg, the i-th (from 1) invoked
// with event(i) and its answer checked with check.
// It reports Lambda's measures: init-ms (Init Duration), init-MB (peak
// RSS when init ends), invoke-ms (Duration) and peak-MB (Max Memory Used
// over init and the invocation).
func coldStartsWith(b *testing.B, cfg lambdatest.Config, event func(i int) []byte, check func(i int, out []byte) error) {
	cfg.EnforceMemory = true
	var initTime, invokeTime time.Duration
	var initPeak, peak int64
	n := 0
	for b.Loop() {
		n++
		f, err := lambdatest.Start(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		initTime += f.InitDuration()
		initPeak = max(initPeak, f.PeakRSS())
		inv, err := f.Do(context.Background(), event(n))
		if err == nil && inv.Err != nil {
			err = inv.Err
		}
		if err == nil {
			err = check(n, inv.Response)
		}
		peak = max(peak, f.PeakRSS())
		f.Stop()
		if err != nil {
			b.Fatalf("%v\n%s", err, f.Logs())
		}
		invokeTime += inv.Duration
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(n) }
	b.ReportMetric(ms(initTime), "init-ms")
	b.ReportMetric(ms(invokeTime), "invoke-ms")
	b.ReportMetric(float64(initPeak)/(1<<20), "init-MB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
}
