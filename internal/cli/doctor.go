package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/aws/smithy-go"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/pocketsphinx"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/certpool"
	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/media"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/store"
)

const doctorUsage = "[--config FILE] [--timeout D] [flags]"

func doctorCommand() Command {
	return Command{
		Name:  "doctor",
		Usage: doctorUsage,
		Short: "check the configuration and what vmx serve depends on: database, storage, AWS, speech, mail",
		Run:   runDoctor,
	}
}

// Statuses of a finding, as printed.
const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "FAIL"
)

// finding is one line of the report and what to do about it.
type finding struct {
	status string
	what   string
	detail string
	fix    string
}

// check is one independent probe; it honours ctx's deadline.
type check struct {
	what string
	run  func(ctx context.Context) []finding
}

func one(status, what, detail, fix string) []finding {
	return []finding{{status: status, what: what, detail: detail, fix: fix}}
}

// doctor checks one configuration.
type doctor struct {
	cfg     *config.Config
	log     *slog.Logger
	timeout time.Duration

	aws      aws.Config
	awsErr   error // loading the AWS configuration, or retrieving credentials
	creds    aws.Credentials
	awsUsers []string // settings that need AWS credentials
}

func runDoctor(ctx context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "doctor", doctorUsage)
	timeout := fs.Duration("timeout", 10*time.Second, "how long each check may take")
	cfg, pos, err := loadConfig(env, fs, args, false)
	if err != nil {
		return 2, err
	}
	if len(pos) > 0 {
		return 2, usagef("unexpected argument %q", pos[0])
	}
	if *timeout <= 0 {
		return 2, usagef("--timeout %s: want more than 0", *timeout)
	}
	d := &doctor{cfg: cfg, timeout: *timeout, log: slog.New(slog.DiscardHandler)}
	findings := d.configFindings()
	d.loadAWS(ctx)
	for _, found := range d.run(ctx, d.checks()) {
		findings = append(findings, found...)
	}
	failed := printFindings(env.Stdout, findings)
	if failed > 0 {
		return 1, fmt.Errorf("%d of %d checks failed", failed, len(findings))
	}
	return 0, nil
}

// printFindings writes the report and returns the number of failures.
func printFindings(w io.Writer, fs []finding) int {
	width := 0
	for _, f := range fs {
		width = max(width, len(f.what))
	}
	indent := strings.Repeat(" ", 4+2+width+2)
	failed, warned := 0, 0
	for _, f := range fs {
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", f.status, width, f.what, strings.ReplaceAll(f.detail, "\n", "\n"+indent))
		if f.fix != "" && f.status != statusOK {
			fmt.Fprintf(w, "%sfix: %s\n", indent, strings.ReplaceAll(f.fix, "\n", "\n"+indent+"     "))
		}
		switch f.status {
		case statusFail:
			failed++
		case statusWarn:
			warned++
		}
	}
	fmt.Fprintf(w, "\n%d checks: %d ok, %d warnings, %d failed\n", len(fs), len(fs)-failed-warned, warned, failed)
	return failed
}

// run runs the checks at once, each within the timeout, and returns their
// findings in the checks' order. A check still running at its deadline is
// reported as failed and left to finish on its own.
func (d *doctor) run(ctx context.Context, checks []check) [][]finding {
	out := make([][]finding, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, d.timeout)
			defer cancel()
			done := make(chan []finding, 1)
			go func() { done <- c.run(ctx) }()
			select {
			case out[i] = <-done:
			case <-ctx.Done():
				// A check that honours ctx says what it was waiting for.
				select {
				case out[i] = <-done:
				case <-time.After(200 * time.Millisecond):
					out[i] = one(statusFail, c.what, fmt.Sprintf("no answer within %s", d.timeout),
						"find what hangs (network, DNS, a slow disk), or give more time with --timeout")
				}
			}
		})
	}
	wg.Wait()
	return out
}

func (d *doctor) configFindings() []finding {
	src := "no configuration file: defaults, environment and flags"
	if f := d.cfg.File(); f != "" {
		src = f
	}
	ps := d.cfg.Problems()
	if len(ps) == 0 {
		return one(statusOK, "configuration", "no problems ("+src+")", "")
	}
	var out []finding
	for _, p := range ps {
		status := statusFail
		if p.Warning {
			status = statusWarn
		}
		fix := p.Hint
		if fix == "" {
			fix = "run 'vmx config check' to see every setting and where it comes from"
		}
		out = append(out, finding{status: status, what: "configuration", detail: p.Error(), fix: fix})
	}
	return out
}

// loadAWS resolves the AWS configuration and credentials once, for every
// check that needs them, within the timeout.
func (d *doctor) loadAWS(ctx context.Context) {
	c := d.cfg
	for _, u := range []struct {
		on   bool
		what string
	}{
		{c.S3.Bucket != "", "s3.bucket"},
		{c.Kinesis.Enabled, "kinesis.stream"},
		{c.Connect.Enabled, "connect.enabled"},
		{c.Email.From != "" && c.Email.Transport == "ses", "email.transport ses"},
		{c.Transcriber == "aws", "transcriber aws"},
		{c.Summary.Enabled || c.Summary.ModelID != "", "summary"},
	} {
		if u.on {
			d.awsUsers = append(d.awsUsers, u.what)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	d.aws, d.awsErr = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region(c)))
	if d.awsErr != nil {
		return
	}
	if d.aws.Credentials == nil {
		d.awsErr = errors.New("no credential provider")
		return
	}
	d.creds, d.awsErr = d.aws.Credentials.Retrieve(ctx)
}

const awsCredentialsFix = "vmx uses the AWS SDK's default chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " +
	"AWS_PROFILE with ~/.aws/credentials, or the instance's or task's IAM role"

func (d *doctor) checks() []check {
	c := d.cfg
	cs := []check{
		{"data dir", d.checkDataDir},
		{"database", d.checkDatabase},
		{"blob store", d.checkBlobs},
		{"aws", d.checkAWS},
		{"kvs", d.checkKVS},
	}
	if c.Kinesis.Stream != "" {
		cs = append(cs, check{"kinesis", d.checkKinesis})
	}
	cs = append(cs, check{"transcriber", d.checkTranscriber})
	if c.VAD.SileroModel != "" {
		cs = append(cs, check{"vad", d.checkSilero})
	}
	cs = append(cs, check{"delivery", d.checkDelivery})
	if c.Email.From != "" {
		cs = append(cs, check{"email", d.checkEmail})
	}
	if c.Connect.Enabled {
		cs = append(cs, check{"connect", d.checkConnect})
	}
	if c.Salesforce.LoginURL != "" {
		cs = append(cs, check{"salesforce", d.checkSalesforce})
	}
	if c.Summary.Enabled || c.Summary.ModelID != "" {
		cs = append(cs, check{"bedrock", d.checkBedrock})
	}
	return cs
}

func (d *doctor) checkDataDir(context.Context) []finding {
	const what = "data dir"
	dir := d.cfg.DataDir
	fix := "create it and let the user vmx runs as write to it (chown, chmod), or set data_dir (VMX_DATA_DIR)"
	if dir == "" {
		return one(statusFail, what, "data_dir is empty", fix)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return one(statusFail, what, oneLine(err), fix)
	}
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return one(statusFail, what, dir+": not writable: "+oneLine(err), fix)
	}
	_, err = f.WriteString("vmx doctor\n")
	err = errors.Join(err, f.Close(), os.Remove(f.Name()))
	if err != nil {
		return one(statusFail, what, dir+": "+oneLine(err), fix)
	}
	detail := dir + ": writable"
	if d.cfg.LinkSecret == "" {
		detail += "; the media link secret is generated here at the first start"
	}
	return one(statusOK, what, detail, "")
}

// displayDB is the db setting without its password.
func displayDB(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

func (d *doctor) checkDatabase(ctx context.Context) []finding {
	const what = "database"
	db, err := config.ParseDB(d.cfg.DB)
	if err != nil {
		return one(statusFail, what, "db: "+oneLine(err), "set db (VMX_DB) to sqlite://PATH or postgres://USER:PASSWORD@HOST/DB")
	}
	shown := displayDB(d.cfg.DB)
	fix := "vmx keeps SQLite in a file: its directory must be writable (see data dir)"
	if db.Driver == "postgres" {
		fix = "is PostgreSQL running and reachable at that host and port from here? Check the user, password and database in db (VMX_DB), and that the user may create tables"
	}
	// Opening migrates, as vmx serve does at start.
	st, err := store.Open(ctx, dbDSN(d.cfg), store.Options{Logger: d.log})
	if err != nil {
		return one(statusFail, what, shown+": "+oneLine(err), fix)
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		return one(statusFail, what, shown+": "+oneLine(err), fix)
	}
	n, err := st.QueueDepth(ctx)
	if err != nil {
		return one(statusFail, what, shown+": reading the job queue: "+oneLine(err), fix)
	}
	return one(statusOK, what, fmt.Sprintf("%s: reachable, schema up to date, %d jobs waiting or running", shown, n), "")
}

func (d *doctor) checkBlobs(ctx context.Context) []finding {
	const what = "blob store"
	var (
		bs    blob.Store
		where string
		fix   string
		err   error
	)
	if d.cfg.S3.Bucket != "" {
		where = "s3://" + d.cfg.S3.Bucket
		if d.cfg.S3.Endpoint != "" {
			where += " at " + d.cfg.S3.Endpoint
		}
		fix = "check that the bucket exists in the region and that vmx's credentials may s3:PutObject, s3:GetObject and s3:DeleteObject in it"
		if d.awsErr != nil {
			return one(statusFail, what, where+": no AWS credentials: "+oneLine(d.awsErr), awsCredentialsFix)
		}
		bs, err = blob.NewS3(newS3Client(d.cfg, d.aws), d.cfg.S3.Bucket, blob.S3Options{})
	} else {
		where = filepath.Join(d.cfg.DataDir, "blobs")
		fix = "recordings are kept under data_dir/blobs: make data_dir writable, or set s3.bucket"
		bs, err = blob.NewLocal(where)
	}
	if err != nil {
		return one(statusFail, what, where+": "+oneLine(err), fix)
	}
	if c, ok := bs.(io.Closer); ok {
		defer c.Close()
	}
	if err := probeBlobs(ctx, bs); err != nil {
		return one(statusFail, what, where+": "+oneLine(err), fix)
	}
	return one(statusOK, what, where+": wrote, read back and deleted a probe object", "")
}

// probeBlobs puts, reads back and deletes a small object.
func probeBlobs(ctx context.Context, bs blob.Store) error {
	key := "doctor/probe-" + randomHex(8) + ".txt"
	body := []byte("vmx doctor probe " + time.Now().UTC().Format(time.RFC3339) + "\n")
	if err := bs.Put(ctx, key, bytes.NewReader(body), blob.Attrs{ContentType: "text/plain"}); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	rc, _, err := bs.Open(ctx, key)
	if err != nil {
		bs.Delete(ctx, key)
		return fmt.Errorf("get: %w", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err == nil && !bytes.Equal(got, body) {
		err = fmt.Errorf("read back %d bytes that differ from the %d written", len(got), len(body))
	}
	if derr := bs.Delete(ctx, key); derr != nil {
		return errors.Join(err, fmt.Errorf("delete: %w", derr))
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *doctor) checkAWS(context.Context) []finding {
	const what = "aws"
	if d.awsErr != nil {
		detail := "no credentials: " + oneLine(d.awsErr)
		if len(d.awsUsers) > 0 {
			return one(statusFail, what, detail+" (needed by "+strings.Join(d.awsUsers, ", ")+")", awsCredentialsFix)
		}
		return one(statusWarn, what, detail+"; vmx cannot read voicemail audio from Kinesis Video Streams or S3 without them", awsCredentialsFix)
	}
	key := d.creds.AccessKeyID
	if len(key) > 4 {
		key = "…" + key[len(key)-4:]
	}
	return one(statusOK, what, fmt.Sprintf("credentials %s from %s, region %s", key, d.creds.Source, d.aws.Region), "")
}

// kvsNeeds are the Kinesis Video Streams actions vmx calls.
const kvsNeeds = "kinesisvideo:GetDataEndpoint, ListFragments and GetMediaForFragmentList"

func (d *doctor) checkKVS(ctx context.Context) []finding {
	const what = "kvs"
	endpoint := d.cfg.KVS.Endpoint
	if endpoint == "" {
		// Amazon Connect names a stream per contact, so there is none to
		// ask about before a voicemail arrives.
		status := statusOK
		if d.awsErr != nil {
			status = statusWarn
		}
		return one(status, what, "not checkable before a voicemail arrives: each contact record names its own stream; vmx needs "+kvsNeeds+" on Connect's streams",
			awsCredentialsFix)
	}
	if d.awsErr != nil {
		return one(statusFail, what, endpoint+": cannot sign requests without AWS credentials: "+oneLine(d.awsErr), awsCredentialsFix)
	}
	client := kinesisvideo.NewFromConfig(d.aws, func(o *kinesisvideo.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.Retryer = aws.NopRetryer{}
	})
	// A stream of this name does not exist: any answer of the service's
	// own shows it is there and took the request.
	_, err := client.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{
		StreamName: aws.String("vmx-doctor-probe"), APIName: kvtypes.APINameGetMedia,
	})
	var apiErr smithy.APIError
	switch {
	case err == nil, errors.As(err, &apiErr) && apiErr.ErrorCode() == "ResourceNotFoundException":
		return one(statusOK, what, endpoint+": answers GetDataEndpoint", "")
	case errors.As(err, &apiErr):
		return one(statusFail, what, fmt.Sprintf("%s: GetDataEndpoint: %s: %s", endpoint, apiErr.ErrorCode(), apiErr.ErrorMessage()),
			"check the credentials and that they may call "+kvsNeeds)
	}
	return one(statusFail, what, endpoint+": "+oneLine(err), "check kvs.endpoint (VMX_KVS_ENDPOINT): is the service running and reachable from here?")
}

func (d *doctor) checkKinesis(ctx context.Context) []finding {
	const what = "kinesis"
	k := d.cfg.Kinesis
	if d.awsErr != nil {
		return one(statusFail, what, k.Stream+": no AWS credentials: "+oneLine(d.awsErr), awsCredentialsFix)
	}
	client := awskinesis.NewFromConfig(d.aws, func(o *awskinesis.Options) {
		if k.Endpoint != "" {
			o.BaseEndpoint = aws.String(k.Endpoint)
		}
		o.Retryer = aws.NopRetryer{}
	})
	in := &awskinesis.DescribeStreamSummaryInput{}
	if arn := k.StreamARN(); arn != "" {
		in.StreamARN = aws.String(arn)
	} else {
		in.StreamName = aws.String(k.StreamName())
	}
	out, err := client.DescribeStreamSummary(ctx, in)
	if err != nil {
		return one(statusFail, what, k.Stream+": DescribeStreamSummary: "+oneLine(err),
			"check kinesis.stream, the region, and that the credentials may kinesis:DescribeStreamSummary, ListShards, GetShardIterator and GetRecords")
	}
	s := out.StreamDescriptionSummary
	detail := fmt.Sprintf("%s: %s, %d open shards, retention %d h", k.Stream, s.StreamStatus, aws.ToInt32(s.OpenShardCount), aws.ToInt32(s.RetentionPeriodHours))
	if s.StreamStatus != "ACTIVE" && s.StreamStatus != "UPDATING" {
		return one(statusWarn, what, detail, "vmx reads the stream once it is ACTIVE")
	}
	return one(statusOK, what, detail, "")
}

// pocketSphinxInstall says how to get a vmx that transcribes with
// PocketSphinx; pocketSphinxFix adds the way out.
const (
	pocketSphinxInstall = "apt-get install pkgconf libpocketsphinx-dev pocketsphinx-en-us, then make build " +
		"(it builds with -tags pocketsphinx when the library is installed)"
	pocketSphinxFix = pocketSphinxInstall + ", or set transcriber none"
)

func (d *doctor) checkTranscriber(ctx context.Context) []finding {
	const what = "transcriber"
	c := d.cfg
	switch c.Transcriber {
	case "", "none":
		return one(statusOK, what, "none: voicemails are delivered without a transcript", "")
	case "pocketsphinx":
		// The model is checked in every build, so that a vmx built without
		// the engine still says whether the machine has its model.
		mc := pocketsphinx.Config{ModelDir: c.PocketSphinx.ModelDir, Speed: pocketsphinx.Speed(c.PocketSphinx.Speed)}.WithDefaults()
		if err := mc.Validate(); err != nil {
			return one(statusFail, what, "model in "+mc.ModelDir+": "+oneLine(err),
				"apt-get install pocketsphinx-en-us, or set pocketsphinx.model_dir to a model directory")
		}
	case "aws":
		if d.awsErr != nil {
			return one(statusFail, what, "aws: no AWS credentials: "+oneLine(d.awsErr), awsCredentialsFix)
		}
	}
	type built struct {
		e   asr.Engine
		err error
	}
	done := make(chan built, 1)
	go func() {
		e, closeEngine, err := newEngine(c, d.log)
		if err == nil {
			closeEngine()
		}
		done <- built{e, err}
	}()
	var b built
	select {
	case b = <-done:
	case <-ctx.Done():
		return one(statusFail, what, c.Transcriber+": the engine did not load within "+d.timeout.String(), "is the model on a slow disk? Give more time with --timeout")
	}
	if b.err != nil {
		fix := "see docs/asr.md for the engine's settings"
		if c.Transcriber == "pocketsphinx" && errors.Is(b.err, asr.ErrUnavailable) {
			fix = pocketSphinxFix
		}
		return one(statusFail, what, oneLine(b.err), fix)
	}
	detail := b.e.Name() + ": engine loads"
	switch c.Transcriber {
	case "pocketsphinx":
		detail += " (model " + c.PocketSphinx.ModelDir + ", speed " + c.PocketSphinx.Speed + ")"
	case "aws":
		detail += " (Amazon Transcribe in " + region(c) + ", media in s3://" + c.S3.Bucket + "; not called)"
	}
	return one(statusOK, what, detail, "")
}

func (d *doctor) checkSilero(context.Context) []finding {
	const what = "vad"
	model := d.cfg.VAD.SileroModel
	if _, err := os.Stat(model); err != nil {
		return one(statusFail, what, "vad.silero_model: "+oneLine(err),
			"fetch the model with internal/audio/vad/scripts/fetch-silero.sh, or unset vad.silero_model to use the energy detector")
	}
	s, err := vad.NewSilero(8000, vad.SileroConfig{Model: model})
	if err != nil {
		if errors.Is(err, vad.ErrUnavailable) {
			return one(statusWarn, what, "silero: "+oneLine(err)+"; vmx falls back to the energy detector",
				"build vmx with -tags sherpa for Silero, or unset vad.silero_model")
		}
		return one(statusFail, what, "silero: "+oneLine(err), "check vad.silero_model")
	}
	s.Close()
	return one(statusOK, what, "silero: "+model+" loads", "")
}

func (d *doctor) checkDelivery(context.Context) []finding {
	const what = "delivery"
	c := d.cfg
	signer := media.Signer{Secret: []byte(c.LinkSecret), BaseURL: c.PublicURL}
	del, err := newDelivery(c, d.aws, signer, d.log)
	if err != nil {
		return one(statusFail, what, oneLine(err), "run 'vmx config check', and see docs/delivery.md")
	}
	modes := slices.Sorted(func(yield func(string) bool) {
		for m := range del.sinks {
			if !yield(m) {
				return
			}
		}
	})
	if len(modes) == 0 {
		return one(statusFail, what, "no delivery mode is configured: voicemails cannot be delivered",
			"configure at least one: webhook.url, email.from, connect.enabled or salesforce.login_url (docs/delivery.md)")
	}
	var missing []string
	for _, m := range strings.Split(c.DefaultMode, ",") {
		m = strings.ToLower(strings.TrimSpace(m))
		if m == "other" {
			m = "webhook"
		}
		if _, ok := del.sinks[m]; !ok && m != "" {
			missing = append(missing, m)
		}
	}
	detail := "modes " + strings.Join(modes, ", ") + "; default " + c.DefaultMode
	if len(missing) > 0 {
		return one(statusFail, what, detail+": "+strings.Join(missing, ", ")+" not configured",
			"configure the default mode's settings or change default_mode")
	}
	return one(statusOK, what, detail, "")
}

func (d *doctor) checkEmail(ctx context.Context) []finding {
	const what = "email"
	if d.cfg.Email.Transport == "ses" {
		if d.awsErr != nil {
			return one(statusFail, what, "ses: no AWS credentials: "+oneLine(d.awsErr), awsCredentialsFix)
		}
		return one(statusOK, what, "ses in "+d.aws.Region+": credentials resolve; not called (vmx needs ses:SendEmail for "+d.cfg.Email.From+")", "")
	}
	detail, err := probeSMTP(ctx, d.cfg.SMTP)
	if err != nil {
		return one(statusFail, what, "smtp "+detail+": "+oneLine(err),
			"check smtp.host, smtp.port and smtp.tls, that the relay runs and is reachable from here (firewall), and smtp.username/smtp.password")
	}
	return one(statusOK, what, "smtp "+detail+"; no mail sent", "")
}

// smtpPort is the port of a TLS mode when smtp.port is 0.
func smtpPort(c config.SMTP) int {
	if c.Port != 0 {
		return c.Port
	}
	switch c.TLS {
	case "tls":
		return 465
	case "none":
		return 25
	}
	return 587
}

// probeSMTP connects, says EHLO, starts TLS and authenticates as vmx's
// e-mail sink would, and quits before MAIL FROM. It returns what it did.
func probeSMTP(ctx context.Context, c config.SMTP) (string, error) {
	addr := net.JoinHostPort(c.Host, strconv.Itoa(smtpPort(c)))
	steps := []string{addr}
	done := func() string { return strings.Join(steps, ", ") }
	tlsCfg := &tls.Config{ServerName: c.Host}
	if c.CAFile != "" {
		pool, err := certpool.WithFile(c.CAFile)
		if err != nil {
			return done(), fmt.Errorf("smtp.ca_file: %w", err)
		}
		tlsCfg.RootCAs = pool
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return done(), err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if c.TLS == "tls" {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return done(), fmt.Errorf("TLS: %w", err)
		}
		conn = tc
		steps = append(steps, "TLS")
	}
	client, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		return done(), fmt.Errorf("greeting: %w", err)
	}
	defer client.Close()
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	if err := client.Hello(host); err != nil {
		return done(), fmt.Errorf("EHLO: %w", err)
	}
	steps = append(steps, "EHLO")
	if c.TLS == "starttls" {
		if ok, _ := client.Extension("STARTTLS"); !ok {
			return done(), errors.New("the server does not offer STARTTLS (smtp.tls starttls)")
		}
		if err := client.StartTLS(tlsCfg); err != nil {
			return done(), fmt.Errorf("STARTTLS: %w", err)
		}
		steps = append(steps, "STARTTLS")
	}
	if c.Username != "" {
		if ok, _ := client.Extension("AUTH"); !ok {
			return done(), errors.New("the server offers no AUTH, but smtp.username is set")
		}
		if err := client.Auth(smtp.PlainAuth("", c.Username, c.Password, c.Host)); err != nil {
			return done(), fmt.Errorf("AUTH PLAIN as %s: %w", c.Username, err)
		}
		steps = append(steps, "AUTH as "+c.Username)
	}
	client.Quit()
	return done(), nil
}

func (d *doctor) checkConnect(context.Context) []finding {
	const what = "connect"
	if d.awsErr != nil {
		return one(statusFail, what, "no AWS credentials: "+oneLine(d.awsErr), awsCredentialsFix)
	}
	detail := "credentials resolve, region " + d.aws.Region
	if d.cfg.Connect.Endpoint != "" {
		detail += ", endpoint " + d.cfg.Connect.Endpoint
	}
	return one(statusOK, what, detail+"; not called: the instance comes from each contact record", "")
}

func (d *doctor) checkSalesforce(context.Context) []finding {
	const what = "salesforce"
	sf := d.cfg.Salesforce
	if err := (&delivery{sinks: map[string]pipeline.Sink{}}).addSalesforce(d.cfg, d.log); err != nil {
		return one(statusFail, what, oneLine(err), "see the salesforce.* settings in 'vmx config reference'")
	}
	flow := "client credentials flow"
	if sf.PrivateKeyFile != "" {
		flow = "JWT bearer flow as " + sf.Username + " (key " + sf.PrivateKeyFile + " parses)"
	}
	return one(statusOK, what, sf.LoginURL+": "+flow+"; not called: a token is requested at the first delivery", "")
}

func (d *doctor) checkBedrock(context.Context) []finding {
	const what = "bedrock"
	s := d.cfg.Summary
	if d.awsErr != nil {
		return one(statusFail, what, "no AWS credentials: "+oneLine(d.awsErr), awsCredentialsFix)
	}
	if s.ModelID == "" {
		return one(statusFail, what, "summary.model_id is not set", "set summary.model_id to a Bedrock model or inference profile, e.g. us.amazon.nova-lite-v1:0")
	}
	r := s.Region
	if r == "" {
		r = d.aws.Region
	}
	return one(statusOK, what, "model "+s.ModelID+" in "+r+": credentials resolve; not called (vmx needs bedrock:InvokeModel)", "")
}
