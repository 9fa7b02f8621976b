package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/awstranscribe"
	"github.com/vmx-dev/vmx/internal/asr/textutil"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/ctr"
	"github.com/vmx-dev/vmx/internal/ivr"
	"github.com/vmx-dev/vmx/internal/kinesis"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/live"
	"github.com/vmx-dev/vmx/internal/media"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/recording"
	"github.com/vmx-dev/vmx/internal/server"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/web"
)

const serveUsage = "[--config FILE] [flags]"

func serveCommand() Command {
	return Command{
		Name:  "serve",
		Usage: serveUsage,
		Short: "run the voicemail pipeline and its HTTP API",
		Run:   runServe,
	}
}

// loadConfig registers the configuration flags on fs, parses args and
// loads the configuration. check=false returns it even with problems.
func loadConfig(env *Env, fs *flag.FlagSet, args []string, check bool) (*config.Config, []string, error) {
	flags := config.RegisterFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, nil, err
	}
	opts := config.Options{File: flags.File(), Getenv: env.Getenv, Flags: flags.Values()}
	if !check {
		return config.Resolve(opts), pos, nil
	}
	cfg, err := config.Load(opts)
	var problems config.Problems
	if errors.As(err, &problems) {
		fmt.Fprintln(env.Stderr, "configuration problems:")
		for _, p := range problems.Errors() {
			fmt.Fprintf(env.Stderr, "  %s\n", strings.ReplaceAll(p.Error(), "\n", "\n  "))
		}
		return nil, nil, fmt.Errorf("%d configuration problems (run 'vmx config check')", len(problems.Errors()))
	}
	return cfg, pos, err
}

func runServe(ctx context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "serve", serveUsage)
	cfg, pos, err := loadConfig(env, fs, args, true)
	if err != nil {
		return 1, err
	}
	if len(pos) > 0 {
		return 2, usagef("unexpected argument %q", pos[0])
	}
	app, err := openApp(ctx, env, cfg, true)
	if err != nil {
		return 1, err
	}
	defer app.close()
	return 0, app.serve(ctx)
}

// app is vmx assembled from its configuration.
type app struct {
	closers  []func()
	cfg      *config.Config
	log      *slog.Logger
	store    *store.Store
	pipeline *pipeline.Pipeline
	api      *server.Server
	inbox    *web.Handler
	recorder *recording.Recorder
	live     *live.Service // nil without a live transcription target
	registry *prometheus.Registry
	intake   ctr.Config
}

// openApp builds vmx from cfg: database, blob store, KVS client, sinks,
// pipeline and API. work=false builds what CLI tools need without starting
// workers. awsOpts add to the AWS SDK's defaults (vmx demo signs its
// simulator's requests with static credentials).
func openApp(ctx context.Context, env *Env, cfg *config.Config, work bool, awsOpts ...func(*awsconfig.LoadOptions) error) (*app, error) {
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: cfg.Level()}))
	a := &app{cfg: cfg, log: log}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if created, err := cfg.EnsureLinkSecret(); err != nil {
		return nil, err
	} else if created {
		log.Info("generated the media link secret", "path", cfg.LinkSecretPath())
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, append([]func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region(a.cfg))}, awsOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	s3Client := newS3Client(cfg, awsCfg)
	blobs, err := newBlobs(cfg, s3Client)
	if err != nil {
		return nil, err
	}
	if a.store, err = store.Open(ctx, dbDSN(cfg), store.Options{MaxAttempts: cfg.Jobs.MaxAttempts, Logger: log}); err != nil {
		return nil, err
	}
	signer := media.Signer{Secret: []byte(cfg.LinkSecret), BaseURL: cfg.PublicURL}
	// vmx's own web inbox is always a destination: mode inbox.
	parts, err := newPipeline(cfg, awsCfg, s3Client, &pipeline.SQLState{Store: a.store}, blobs, signer,
		map[string]pipeline.Sink{"inbox": web.NewSink(a.store)}, log)
	if err != nil {
		a.close()
		return nil, err
	}
	a.closers = append(a.closers, parts.close)
	a.pipeline = parts.pipeline
	if work {
		removeStaleTemp(a.pipeline.TempDir, cfg.Jobs.RescueAfter, log)
	}
	a.intake = intakeConfig(cfg)
	if !work {
		return a, nil
	}
	mediaHandler, err := newMediaHandler(cfg, signer, audioKeys(a.store.Get), blobs, log)
	if err != nil {
		a.close()
		return nil, err
	}
	a.registry = prometheus.NewRegistry()
	if err := registerMetrics(a.registry, a.pipeline.Metrics, a.store); err != nil {
		a.close()
		return nil, err
	}
	if err := a.openCalls(cfg, parts.kvs, blobs, parts.engine, log); err != nil {
		a.close()
		return nil, err
	}
	if a.inbox, err = web.New(web.Config{PublicURL: cfg.PublicURL, Location: cfg.Location()}, web.Deps{
		Store:       a.store,
		MediaURL:    a.pipeline.Links.URL,
		Transcripts: blobs,
		Delete:      a.pipeline.Delete,
		Retry:       func(ctx context.Context, id string) error { _, err := a.pipeline.Retry(ctx, id); return err },
		Redact:      parts.text.redact,
		Logger:      log.With("component", "inbox"),
	}); err != nil {
		a.close()
		return nil, err
	}
	if a.api, err = server.New(server.Config{
		Pipeline: a.pipeline, Store: a.store, Intake: a.intake, APIKey: cfg.APIKey, NoAuth: cfg.APIAuth == "none",
		Media: mediaHandler, Presigner: parts.presigner, Inbox: a.inbox, Recordings: a.recorder.Handler(), Live: a.liveHandler(),
		Registry: a.registry, Logger: log.With("component", "api"),
	}); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// newBlobs is the blob store of recordings and transcripts: the S3 bucket
// when s3.bucket is set, else files in the data directory.
func newBlobs(cfg *config.Config, s3Client *s3.Client) (blob.Store, error) {
	if cfg.S3.Bucket != "" {
		return blob.NewS3(s3Client, cfg.S3.Bucket, blob.S3Options{})
	}
	return blob.NewLocal(filepath.Join(cfg.DataDir, "blobs"))
}

// pipelineParts is the pipeline, with the parts of it vmx serve also uses.
type pipelineParts struct {
	pipeline  *pipeline.Pipeline
	kvs       *kvs.Client
	engine    asr.Engine
	presigner http.Handler // nil without Amazon Connect
	text      textFilters
	close     func() // releases the engine
}

// newPipeline builds the pipeline over state and blobs with the audio
// sources, engine, text steps and destinations cfg sets up, for vmx serve
// and the Lambda functions alike. sinks are destinations of the caller's
// own (vmx serve's inbox).
func newPipeline(cfg *config.Config, awsCfg aws.Config, s3Client *s3.Client, state pipeline.State, blobs blob.Store,
	signer media.Signer, sinks map[string]pipeline.Sink, log *slog.Logger) (*pipelineParts, error) {
	kvsClient, err := kvs.New(awsCfg, kvs.Options{Endpoint: cfg.KVS.Endpoint, Logger: log.With("component", "kvs")})
	if err != nil {
		return nil, err
	}
	deliver, err := newDelivery(cfg, awsCfg, signer, log)
	if err != nil {
		return nil, err
	}
	text, err := textSteps(cfg)
	if err != nil {
		return nil, err
	}
	engine, closeEngine, err := newEngine(cfg, log)
	if err != nil {
		return nil, err
	}
	maps.Copy(deliver.sinks, sinks)
	finalizers := deliver.finalizers
	if batch, ok := engine.(*awstranscribe.Engine); ok {
		finalizers = append(finalizers, deleteTranscriptionJob{batch})
	}
	p, err := pipeline.New(pipeline.Deps{
		State: state,
		Blobs: blobs,
		Audio: pipeline.AudioRouter{
			KVS: &pipeline.KVSAudio{Client: kvsClient},
			S3: &pipeline.IVRAudio{Wait: cfg.IVR.RecordingWait, Open: func(bucket string) (ivr.Source, error) {
				return blob.NewS3(s3Client, bucket, blob.S3Options{})
			}},
		},
		Transcriber: engine,
		Finalizers:  finalizers,
		Speech: func(rate int) (vad.Detector, error) {
			c := vadConfig(cfg, log)
			c.SampleRate = rate
			return vad.New(c)
		},
		DropEmpty:    cfg.EmptyVoicemails == "drop",
		SpokenNumber: text.spokenNumber,
		Redact:       text.redact,
		Sinks:        deliver.sinks,
		Router:       deliver.router,
		Summarizer:   deliver.summarizer,
		Location:     cfg.Location(),
		DefaultMode:  cfg.DefaultMode,
		Links:        linker{signer: signer, lifetime: cfg.Links.Lifetime},
		RetentionAge: time.Duration(cfg.Retention.Days) * 24 * time.Hour,
		TempDir:      tempDir(cfg),
		Logger:       log,
	})
	if err == nil {
		err = os.MkdirAll(p.TempDir, 0o755)
	}
	if err != nil {
		closeEngine()
		return nil, err
	}
	return &pipelineParts{pipeline: p, kvs: kvsClient, engine: engine, presigner: deliver.presigner, text: text, close: closeEngine}, nil
}

// intakeConfig says how contact records are read, wherever they come from.
func intakeConfig(cfg *config.Config) ctr.Config {
	return ctr.Config{Prefixes: cfg.AttributePrefixes, Language: cfg.Defaults.Language, QueueARN: cfg.Defaults.QueueARN, Mode: cfg.DefaultMode}
}

// newMediaHandler serves media links: vmx serve's /v1/media/ and the media
// function's.
func newMediaHandler(cfg *config.Config, signer media.Signer, contacts media.Resolver, blobs blob.Store, log *slog.Logger) (*media.Handler, error) {
	return media.NewHandler(media.Config{
		Signer:     signer,
		Contacts:   contacts,
		Blobs:      blobs,
		PresignTTL: cfg.Links.PresignTTL,
		Logger:     log.With("component", "media"),
	})
}

// audioKeys finds a contact's recording in the voicemails get reads.
func audioKeys(get func(ctx context.Context, contactID string) (*voicemail.Record, error)) media.Resolver {
	return media.ResolverFunc(func(ctx context.Context, contactID string) (string, error) {
		rec, err := get(ctx, contactID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && rec.AudioKey == "") {
			return "", fmt.Errorf("%w: %s", media.ErrUnknownContact, contactID)
		}
		if err != nil {
			return "", err
		}
		return rec.AudioKey, nil
	})
}

// openCalls builds call recording and, with a target, live transcription.
func (a *app) openCalls(cfg *config.Config, kvsClient *kvs.Client, blobs blob.Store, engine asr.Engine, log *slog.Logger) error {
	engine = callEngine(engine, log)
	// Kept across restarts: an interrupted recording resumes from it.
	recordingsTmp, err := filepath.Abs(filepath.Join(cfg.DataDir, "recordings-tmp"))
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	a.recorder, err = recording.New(recordingConfig(cfg, recordingsTmp), recording.Deps{Media: kvsClient, Blobs: blobs, Store: a.store, Engine: engine, Speech: callSpeech(cfg, log), Logger: log.With("component", "recording")})
	if err != nil {
		return err
	}
	if cfg.Live.TargetURL == "" {
		return nil
	}
	l := cfg.Live
	metrics := live.NewMetrics()
	if err := metrics.Register(a.registry); err != nil {
		return err
	}
	a.live, err = live.New(live.Config{
		Targets: []live.TargetConfig{{
			URL: l.TargetURL, Timeout: l.TargetTimeout, QueueSize: l.TargetQueueSize,
			Secret: live.SecretConfig{Name: l.TargetSecretName, Value: l.TargetSecret, In: l.TargetSecretIn},
			CAFile: l.TargetCAFile, CertFile: l.TargetCertFile, KeyFile: l.TargetKeyFile,
			OAuth2: live.OAuth2Config{TokenURL: l.TargetOAuth2TokenURL, ClientID: l.TargetOAuth2ClientID, ClientSecret: l.TargetOAuth2ClientSecret},
		}},
		Language:         cfg.Defaults.Language,
		Redaction:        live.RedactionConfig{Disabled: !l.Redaction},
		MaxConversations: l.MaxConversations,
		Heartbeat:        l.Heartbeat,
		StopPoll:         l.StopPoll,
		StaleAfter:       l.StaleAfter,
		VAD:              vadConfig(cfg, log),
		Feed:             live.FeedConfig{Enabled: l.Feed},
	}, live.Deps{Streams: kvsClient, Engine: engine, Store: a.store, Blob: blobs, Metrics: metrics, Logger: log.With("component", "live")})
	return err
}

// liveHandler is the live transcription API, nil when it is off; the
// server puts its API-key check in front.
func (a *app) liveHandler() http.Handler {
	if a.live == nil {
		return nil
	}
	return a.live.Handler(nil)
}

// removeStaleTemp deletes the files a killed vmx left in dir: those not
// written for longer than a job may run before it is taken for dead, so
// that a replica sharing dir keeps the files it is still writing.
func removeStaleTemp(dir string, age time.Duration, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Warn("temporary files not cleaned", "dir", dir, "err", err)
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !strings.HasPrefix(e.Name(), "vmx-") || time.Since(info.ModTime()) < age {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			log.Info("removed a temporary file left by a stopped vmx", "file", e.Name())
		}
	}
}

// newS3Client is the S3 client of the blob store and of IVR recordings.
func newS3Client(cfg *config.Config, awsCfg aws.Config) *s3.Client {
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.S3.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.S3.Endpoint)
		}
		o.UsePathStyle = cfg.S3.PathStyle
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

func dbDSN(cfg *config.Config) string {
	d := cfg.Database()
	if d.Driver == "postgres" {
		return d.DSN
	}
	return "sqlite://" + d.DSN
}

// serve runs the API and the workers until ctx ends, then stops them:
// the HTTP server first, then the workers, letting running steps finish.
func (a *app) serve(ctx context.Context) error {
	periodic := []*river.PeriodicJob{}
	if a.cfg.Retention.Days > 0 {
		periodic = append(periodic, pipeline.RetentionJob(a.cfg.Retention.Interval))
	}
	if err := a.store.Start(ctx, store.WorkOptions{
		Workers: a.pipeline.Workers(), Concurrency: a.cfg.Jobs.Workers, Periodic: periodic, RescueAfter: a.cfg.Jobs.RescueAfter,
	}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The consumer, the recorder and the feed are stopped and waited for
	// before serve returns, so that none outlives the store it writes to.
	consumerCtx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	var background sync.WaitGroup
	background.Go(func() {
		if err := a.recorder.Run(consumerCtx); err != nil {
			a.log.Error("call recording stopped", "err", err)
		}
	})
	if a.live != nil && a.cfg.Live.Feed {
		background.Go(func() {
			if err := a.live.RunFeed(consumerCtx); err != nil && consumerCtx.Err() == nil {
				a.log.Error("utterance feed stopped", "err", err)
			}
		})
	}
	consumerDone := make(chan error, 1)
	consumerRunning := false
	if a.cfg.Kinesis.Enabled {
		consumer, err := a.kinesisConsumer(ctx)
		if err != nil {
			ln.Close()
			return err
		}
		consumerRunning = true
		go func() { consumerDone <- consumer.Run(consumerCtx) }()
	}
	hs := &http.Server{Handler: a.api, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	hs.RegisterOnShutdown(a.inbox.Close) // live streams would hold Shutdown for its whole timeout
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	a.log.Info("vmx serving", "listen", ln.Addr().String(), "db", a.store.Dialect(), "public_url", a.cfg.PublicURL)
	select {
	case <-ctx.Done():
	case err = <-errc:
	case err = <-consumerDone:
		consumerRunning = false
		err = fmt.Errorf("kinesis consumer: %w", err)
	}
	stopConsumer()
	if consumerRunning {
		<-consumerDone
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hs.Shutdown(shutdown)
	if a.live != nil {
		if err := a.live.Close(shutdown); err != nil {
			a.log.Warn("live transcription did not stop cleanly", "err", err)
		}
	}
	background.Wait()
	a.store.Stop(shutdown)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// kinesisConsumer reads contact records from the configured Kinesis stream
// into the pipeline. A batch is checkpointed only once every voicemail in it
// is stored with its first job.
func (a *app) kinesisConsumer(ctx context.Context) (*kinesis.Consumer, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region(a.cfg)))
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	client := awskinesis.NewFromConfig(awsCfg, func(o *awskinesis.Options) {
		if a.cfg.Kinesis.Endpoint != "" {
			o.BaseEndpoint = aws.String(a.cfg.Kinesis.Endpoint)
		}
	})
	handler := kinesis.HandlerFunc(func(ctx context.Context, shardID string, records []kinesistypes.Record) error {
		for _, r := range records {
			_, err := server.Intake(ctx, a.pipeline, a.intake, bytes.NewReader(r.Data))
			if errors.Is(err, server.ErrUnreadable) {
				a.log.Warn("unreadable Kinesis record skipped", "shard", shardID, "sequence", aws.ToString(r.SequenceNumber), "err", err)
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return kinesis.New(client, a.store.SQL(), handler, kinesis.Config{
		StreamARN:       a.cfg.Kinesis.StreamARN(),
		StreamName:      a.cfg.Kinesis.StreamName(),
		InitialPosition: kinesis.InitialPosition(a.cfg.Kinesis.Position()),
		Logger:          a.log.With("component", "kinesis"),
	})
}

func (a *app) close() {
	if a.store != nil {
		a.store.Close()
	}
	for _, c := range a.closers {
		c()
	}
}

// textFilters are the transcript steps configured under text.
type textFilters struct {
	spokenNumber func(string) (string, bool)
	redact       func(string) string
}

func textSteps(cfg *config.Config) (textFilters, error) {
	var t textFilters
	if cfg.Text.CallbackNumber {
		t.spokenNumber = textutil.CallbackNumber
	}
	if cfg.Text.MaskDigits > 0 {
		m, err := textutil.NewMasker(textutil.MaskOptions{MinRun: cfg.Text.MaskDigits, Keep: cfg.Text.MaskKeep})
		if err != nil {
			return t, fmt.Errorf("text.mask_digits: %w", err)
		}
		t.redact = m.Mask
	}
	return t, nil
}

// deleteTranscriptionJob removes a voicemail's Amazon Transcribe job once
// it is delivered, as Voicemail Express does.
type deleteTranscriptionJob struct{ e *awstranscribe.Engine }

func (d deleteTranscriptionJob) Finalize(ctx context.Context, rec *voicemail.Record) error {
	return d.e.Delete(ctx, rec.ContactID)
}

// linker signs media links that last as long as the recording, or
// lifetime when set.
type linker struct {
	signer   media.Signer
	lifetime time.Duration
}

func (l linker) URL(contactID string) string {
	// Without a lifetime, retention, not the link, decides how long a
	// recording can be played.
	exp := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if l.lifetime > 0 {
		exp = time.Now().Add(l.lifetime)
	}
	u, err := l.signer.URL(contactID, exp)
	if err != nil {
		return ""
	}
	return u
}

// registerMetrics adds every collector /metrics serves to r: the Go
// runtime's, the process's, the pipeline's and the job queue depth. The
// Grafana dashboard's test gathers from it, so the two cannot drift.
func registerMetrics(r prometheus.Registerer, m *pipeline.Metrics, s *store.Store) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		queueDepth(s),
	} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return m.Register(r)
}

// queueDepth reports the jobs not yet finished.
func queueDepth(s *store.Store) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vmx_queue_depth", Help: "Pipeline jobs waiting, scheduled, retrying or running.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := s.QueueDepth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
}
