package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/awstranscribe"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/recording"
	"github.com/vmx-dev/vmx/internal/store"
)

// recordingLambda is the call-recording function: a Connect flow invokes
// it, asynchronously, after its Start media streaming block, and it
// records the call within the invocation into s3.bucket, with the contact
// details and transcripts in the database, which must be PostgreSQL: a
// Lambda function's disk does not outlive it.
func recordingLambda(ctx context.Context, cfg *config.Config, log *slog.Logger) (lambda.Handler, error) {
	var problems []error
	if cfg.S3.Bucket == "" {
		problems = append(problems, errors.New("lambda recording: s3.bucket (VMX_BUCKET) must be set: the recordings go to S3"))
	}
	if cfg.Database().Driver != "postgres" {
		problems = append(problems, errors.New("lambda recording: db (VMX_DB) must be a postgres:// URL: the contact details and transcripts go to vmx's database, and a Lambda function's disk does not outlive it"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region(cfg)))
	if err != nil {
		return nil, fmt.Errorf("lambda recording: aws: %w", err)
	}
	blobs, err := blob.NewS3(newS3Client(cfg, awsCfg), cfg.S3.Bucket, blob.S3Options{})
	if err != nil {
		return nil, fmt.Errorf("lambda recording: %w", err)
	}
	media, err := kvs.New(awsCfg, kvs.Options{Endpoint: cfg.KVS.Endpoint, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("lambda recording: %w", err)
	}
	db, err := store.Open(ctx, dbDSN(cfg), store.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("lambda recording: %w", err)
	}
	// The engine and the database live as long as the function's process.
	engine, _, err := newEngine(cfg, log)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("lambda recording: %w", err)
	}
	// The function's /tmp does not outlive it.
	rec, err := recording.New(recordingConfig(cfg, filepath.Join(os.TempDir(), "vmx-recordings")), recording.Deps{
		Media: media, Blobs: blobs, Store: db, Engine: callEngine(engine, log), Speech: callSpeech(cfg, log), Logger: log,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return lambda.NewHandler(rec.HandleLambda), nil
}

// callEngine is the engine that transcribes calls as they happen: Amazon
// Transcribe's batch engine reads stored files and cannot, so with it calls
// are recorded and streamed without transcripts.
func callEngine(engine asr.Engine, log *slog.Logger) asr.Engine {
	if _, batch := engine.(*awstranscribe.Engine); batch {
		log.Warn("Amazon Transcribe's batch engine cannot transcribe live calls; calls are recorded and streamed without transcripts")
		return nil
	}
	return engine
}

// callSpeech makes the voice-activity detector of a call's 8 kHz audio.
func callSpeech(cfg *config.Config, log *slog.Logger) func() (vad.Detector, error) {
	return func() (vad.Detector, error) { return vad.New(vadConfig(cfg, log)) }
}

// recordingConfig is the call-recording configuration, for vmx serve and
// the Lambda function alike; tempDir holds recordings while they are made.
func recordingConfig(cfg *config.Config, tempDir string) recording.Config {
	return recording.Config{
		KeyPrefix:              cfg.Recording.KeyPrefix,
		StartSelector:          cfg.Recording.StartSelector,
		MaxDuration:            cfg.Recording.MaxDuration,
		MaxConcurrent:          cfg.Recording.MaxConcurrent,
		SavePartialTranscripts: cfg.Recording.SavePartialTranscripts,
		Language:               cfg.Defaults.Language,
		TempDir:                tempDir,
	}
}
