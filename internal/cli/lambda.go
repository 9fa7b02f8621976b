package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/vmx-dev/vmx/internal/awsstate"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/lambdafn"
	"github.com/vmx-dev/vmx/internal/media"
)

// lambdaFunctions are the functions vmx lambda runs.
const lambdaFunctions = "ctr, step, transcribe-event, presign, timestamp, recording, media"

func lambdaCommand() Command {
	return Command{
		Name:  "lambda",
		Usage: "FUNCTION",
		Short: "run as an AWS Lambda function (provided.al2023): " + lambdaFunctions,
		Run:   runLambda,
	}
}

// Args returns the command line vmx runs: os.Args without the program
// name, or, for the Lambda bootstrap (the binary named bootstrap, run by
// the Lambda runtime), "lambda" and the function the function's Handler
// setting names (_HANDLER).
func Args(argv []string, getenv func(string) string) []string {
	if len(argv) == 1 && filepath.Base(argv[0]) == "bootstrap" && getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		if h := getenv("_HANDLER"); h != "" {
			return []string{"lambda", h}
		}
		return []string{"lambda"}
	}
	return argv[1:]
}

// runLambda serves one Lambda function until the runtime stops it. The
// functions are thin adapters over the same code vmx serve runs.
func runLambda(ctx context.Context, env *Env, args []string) (int, error) {
	fs := flag.NewFlagSet("lambda", flag.ContinueOnError)
	cfg, pos, err := loadConfig(env, fs, args, false)
	if err != nil {
		return 2, err
	}
	if len(pos) != 1 {
		return 2, usagef("want one function name: %s", lambdaFunctions)
	}
	h, err := lambdaHandler(cfg, pos[0])
	if err != nil {
		return 1, err
	}
	// Outside Lambda the runtime library would exit the process.
	if env.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		return 1, errors.New("lambda: AWS_LAMBDA_RUNTIME_API is not set: vmx lambda runs inside AWS Lambda (or its runtime interface emulator)")
	}
	lambda.StartWithOptions(h, lambda.WithContext(ctx))
	return 0, nil
}

// lambdaHandler returns the named function's handler, built at cold start.
func lambdaHandler(cfg *config.Config, name string) (lambda.Handler, error) {
	ctx := context.Background()
	// Lambda sends a function's stderr to CloudWatch Logs.
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.Level()})).With("function", name)
	switch name {
	case "presign":
		// The guided task's agent flow invokes it with Connect's
		// flow-invocation event, as the HTTP endpoint is called.
		secret, err := lambdaLinkSecret(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("lambda presign: %w", err)
		}
		signer := media.Signer{Secret: secret, BaseURL: cfg.PublicURL}
		p, err := connect.NewPresigner(connect.SignedLinks{Signer: signer, TTL: cfg.Connect.GuidedLinkTTL},
			connect.Config{GuidedLinkTTL: cfg.Connect.GuidedLinkTTL})
		if err != nil {
			return nil, err
		}
		return lambda.NewHandler(p.Presign), nil
	case "recording":
		// Connect's flow invokes it after Start media streaming, with its
		// flow event; the IVR-recording sample's event works too.
		return recordingLambda(ctx, cfg, log)
	case "timestamp":
		return lambda.NewHandler(lambdafn.Timestamp(time.Now)), nil
	case "ctr", "step", "transcribe-event", "media":
		h, err := pipelineLambda(ctx, cfg, name, log)
		if err != nil {
			return nil, fmt.Errorf("lambda %s: %w", name, err)
		}
		return h, nil
	}
	return nil, fmt.Errorf("lambda: unknown function %q (functions: %s)", name, lambdaFunctions)
}

// pipelineLambda builds a function of the voicemail pipeline: the same
// pipeline as vmx serve's, with its state in DynamoDB and its steps on
// SQS instead of the database and River, and its blobs in S3.
func pipelineLambda(ctx context.Context, cfg *config.Config, name string, log *slog.Logger) (lambda.Handler, error) {
	if err := lambdaNeeds(cfg, name); err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region(cfg)))
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	state, err := awsstate.New(dynamodb.NewFromConfig(awsCfg), sqs.NewFromConfig(awsCfg), awsstate.Config{
		Table: cfg.Lambda.Table, QueueURL: cfg.Lambda.StepQueue, TTL: time.Duration(cfg.Retention.Days) * 24 * time.Hour,
	})
	if err != nil {
		return nil, err
	}
	if name == "transcribe-event" {
		return lambda.NewHandler((&lambdafn.TranscribeEvent{State: state, Logger: log}).Handle), nil
	}
	s3Client := newS3Client(cfg, awsCfg)
	blobs, err := blob.NewS3(s3Client, cfg.S3.Bucket, blob.S3Options{})
	if err != nil {
		return nil, err
	}
	// The ctr function makes no links: it needs no secret, nor the right
	// to read it.
	signer := media.Signer{BaseURL: cfg.PublicURL}
	if name != "ctr" {
		if signer.Secret, err = linkSecret(ctx, cfg, awsCfg); err != nil {
			return nil, err
		}
	}
	if name == "media" {
		h, err := newMediaHandler(cfg, signer, audioKeys(state.Get), blobs, log)
		if err != nil {
			return nil, err
		}
		return lambda.NewHandler(lambdafn.FunctionURL(h)), nil
	}
	// /tmp is a function's only writable directory.
	local := *cfg
	local.DataDir = filepath.Join(os.TempDir(), "vmx")
	parts, err := newPipeline(&local, awsCfg, s3Client, state, blobs, signer, nil, log)
	if err != nil {
		return nil, err
	}
	if name == "ctr" {
		return lambda.NewHandler((&lambdafn.CTR{Pipeline: parts.pipeline, Intake: intakeConfig(cfg), Logger: log}).Handle), nil
	}
	return lambda.NewHandler((&lambdafn.Step{Runner: parts.pipeline, Decode: awsstate.DecodeMessage, Delayer: state,
		MaxAttempts: cfg.Jobs.MaxAttempts, Logger: log}).Handle), nil
}

// lambdaNeeds reports every setting the function needs and lacks.
func lambdaNeeds(cfg *config.Config, name string) error {
	var problems []string
	if cfg.Lambda.Table == "" {
		problems = append(problems, "lambda.table (VMX_LAMBDA_TABLE) must be set: the DynamoDB table of voicemails")
	}
	if cfg.Lambda.StepQueue == "" {
		problems = append(problems, "lambda.step_queue (VMX_LAMBDA_STEP_QUEUE) must be set: the URL of the SQS queue of pipeline steps")
	}
	if name != "transcribe-event" && cfg.S3.Bucket == "" {
		problems = append(problems, "s3.bucket (VMX_BUCKET) must be set: recordings and transcripts are kept in S3")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// lambdaLinkSecret is linkSecret for a function that needs nothing else
// of AWS when the secret is not in Secrets Manager.
func lambdaLinkSecret(ctx context.Context, cfg *config.Config) ([]byte, error) {
	var awsCfg aws.Config
	if cfg.Lambda.LinkSecretARN != "" {
		var err error
		if awsCfg, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region(cfg))); err != nil {
			return nil, fmt.Errorf("aws: %w", err)
		}
	}
	return linkSecret(ctx, cfg, awsCfg)
}

// linkSecret is the key that signs media links: the SecretString of the
// Secrets Manager secret lambda.link_secret_arn names, read at cold start,
// or else link_secret.
func linkSecret(ctx context.Context, cfg *config.Config, awsCfg aws.Config) ([]byte, error) {
	arn := cfg.Lambda.LinkSecretARN
	if arn == "" {
		if len(cfg.LinkSecret) < 32 {
			return nil, errors.New("link_secret (VMX_LINK_SECRET) must be set, at least 32 characters, the same as vmx's, or lambda.link_secret_arn (VMX_LAMBDA_LINK_SECRET_ARN) name a Secrets Manager secret holding it")
		}
		return []byte(cfg.LinkSecret), nil
	}
	out, err := secretsmanager.NewFromConfig(awsCfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("link secret (VMX_LAMBDA_LINK_SECRET_ARN %s): %w", arn, err)
	}
	secret := strings.TrimSpace(aws.ToString(out.SecretString))
	if len(secret) < 32 {
		return nil, fmt.Errorf("link secret (VMX_LAMBDA_LINK_SECRET_ARN %s): its SecretString holds %d characters, fewer than 32", arn, len(secret))
	}
	return []byte(secret), nil
}
