package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/media"
)

func lambdaCommand() Command {
	return Command{
		Name:  "lambda",
		Short: "run as an AWS Lambda function (provided.al2023): presign, recording",
		Run:   runLambda,
	}
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
		return 2, usagef("want one function name: presign or recording")
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

// lambdaHandler returns the named function's handler.
func lambdaHandler(cfg *config.Config, name string) (lambda.Handler, error) {
	switch name {
	case "presign":
		// The guided task's agent flow invokes it with Connect's
		// flow-invocation event, as the HTTP endpoint is called.
		if len(cfg.LinkSecret) < 32 {
			return nil, errors.New("lambda presign: link_secret (VMX_LINK_SECRET) must be set, at least 32 characters, the same as vmx's")
		}
		signer := media.Signer{Secret: []byte(cfg.LinkSecret), BaseURL: cfg.PublicURL}
		p, err := connect.NewPresigner(connect.SignedLinks{Signer: signer, TTL: cfg.Connect.GuidedLinkTTL},
			connect.Config{GuidedLinkTTL: cfg.Connect.GuidedLinkTTL})
		if err != nil {
			return nil, err
		}
		return lambda.NewHandler(p.Presign), nil
	case "recording":
		// Connect's flow invokes it after Start media streaming, with its
		// flow event; the IVR-recording sample's event works too.
		// Lambda sends a function's stderr to CloudWatch Logs.
		log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.Level()}))
		return recordingLambda(context.Background(), cfg, log)
	}
	return nil, fmt.Errorf("lambda: unknown function %q (functions: presign, recording)", name)
}
