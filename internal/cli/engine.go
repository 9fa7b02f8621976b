package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/transcribe"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/awstranscribe"
	"github.com/vmx-dev/vmx/internal/asr/lm"
	"github.com/vmx-dev/vmx/internal/asr/pocketsphinx"
	"github.com/vmx-dev/vmx/internal/asr/sherpa"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/config"
)

// newEngine builds the speech-to-text engine named by cfg.Transcriber.
func newEngine(cfg *config.Config, log *slog.Logger) (asr.Engine, func(), error) {
	switch cfg.Transcriber {
	case "", "none":
		return asr.None{}, func() {}, nil
	case "pocketsphinx":
		domainLM, err := domainLM(cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("transcriber: %w", err)
		}
		e, err := pocketsphinx.New(pocketsphinx.Config{
			ModelDir: cfg.PocketSphinx.ModelDir,
			DomainLM: domainLM,
			Speed:    pocketsphinx.Speed(cfg.PocketSphinx.Speed),
			VAD:      vadConfig(cfg, log),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("transcriber: %w", err)
		}
		return e, func() { e.Close() }, nil
	case "sherpa":
		e, err := sherpa.New(sherpa.Config{
			Model:          sherpa.Family(cfg.Sherpa.Model),
			Encoder:        cfg.Sherpa.Encoder,
			Decoder:        cfg.Sherpa.Decoder,
			Joiner:         cfg.Sherpa.Joiner,
			ModelFile:      cfg.Sherpa.ModelFile,
			Tokens:         cfg.Sherpa.Tokens,
			Language:       cfg.Sherpa.Language,
			NumThreads:     cfg.Sherpa.NumThreads,
			DecodingMethod: cfg.Sherpa.DecodingMethod,
			VAD:            vadConfig(cfg, log),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("transcriber: %w", err)
		}
		return e, func() { e.Close() }, nil
	case "aws":
		awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(region(cfg)))
		if err != nil {
			return nil, nil, fmt.Errorf("transcriber: aws: %w", err)
		}
		s3Client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if cfg.S3.Endpoint != "" {
				o.BaseEndpoint = aws.String(cfg.S3.Endpoint)
			}
			o.UsePathStyle = cfg.S3.PathStyle
		})
		e, err := awstranscribe.New(transcribe.NewFromConfig(awsCfg), awstranscribe.S3Fetcher(s3Client), awstranscribe.Config{
			Bucket:           cfg.S3.Bucket,
			OutputPrefix:     "transcripts/aws/", // beside vmx's own transcripts/YYYY/…, under the same grants and lifecycle
			DefaultLanguage:  cfg.Defaults.Language,
			Vocabulary:       cfg.Transcribe.Vocabulary,
			RedactPII:        cfg.Transcribe.RedactPII,
			IdentifyLanguage: cfg.Transcribe.IdentifyLanguage,
			OutputKMSKey:     cfg.Transcribe.OutputKMSKey,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("transcriber: %w", err)
		}
		return e, func() {}, nil
	}
	return nil, nil, fmt.Errorf("transcriber: unknown engine %q", cfg.Transcriber)
}

// vadConfig is the voice-activity detector configuration: Silero when a
// model is configured and the build can run it, else the energy detector.
func vadConfig(cfg *config.Config, log *slog.Logger) vad.Config {
	return vad.Config{Silero: vad.SileroConfig{Model: cfg.VAD.SileroModel}, Logger: log}
}

func region(cfg *config.Config) string {
	if cfg.AWS.Region != "" {
		return cfg.AWS.Region
	}
	return "us-east-1"
}

// domainLM resolves pocketsphinx.domain_lm to a file: vmx's built-in
// voicemail model is written, once, to <data_dir>/models; it is generated
// from text the project writes, the same for every build.
func domainLM(cfg *config.Config) (string, error) {
	switch cfg.PocketSphinx.DomainLM {
	case "none", "":
		return "", nil
	case "builtin":
	default:
		return cfg.PocketSphinx.DomainLM, nil
	}
	// The model is built at every start (milliseconds) and named by its
	// content, so that a vmx whose grammar changed never reads the file
	// an older one left.
	var arpa bytes.Buffer
	if err := lm.Build(&arpa, lm.DefaultSeed, lm.DefaultSentences); err != nil {
		return "", err
	}
	sum := sha256.Sum256(arpa.Bytes())
	path := filepath.Join(cfg.DataDir, "models", "voicemail-"+hex.EncodeToString(sum[:6])+".arpa")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	err := writeFileAtomic(path, func(w io.Writer) error { _, err := w.Write(arpa.Bytes()); return err })
	return path, err
}
