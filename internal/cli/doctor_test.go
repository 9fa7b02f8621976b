package cli

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/email/smtptest"
	"github.com/vmx-dev/vmx/internal/kvssim"
)

// awsEnv gives the process static AWS credentials (or none) and keeps the
// SDK from the machine's ~/.aws files and the instance metadata service.
func awsEnv(t *testing.T, withCredentials bool) {
	t.Helper()
	key, secret := "", ""
	if withCredentials {
		key, secret = "AKIDDOCTORTEST1234", "doctor-test-secret"
	}
	t.Setenv("AWS_ACCESS_KEY_ID", key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
}

// localEnv is a healthy local configuration: SQLite and recordings in a
// temporary data directory, delivery by webhook.
func localEnv(t *testing.T) map[string]string {
	return map[string]string{
		"VMX_DATA_DIR":       t.TempDir(),
		"VMX_API_KEY":        "doctor-test-api-key-0123456789",
		"VMX_WEBHOOK_URL":    "https://hooks.example.com/vmx",
		"VMX_WEBHOOK_SECRET": "doctor-test-webhook-secret-0123456789",
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return "127.0.0.1", port
}

// line returns the report line of a check with that status, or fails.
func line(t *testing.T, out, status, what string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(status) + ` +` + regexp.QuoteMeta(what) + `  .*$`)
	l := re.FindString(out)
	if l == "" {
		t.Fatalf("no %q line for %s in:\n%s", status, what, out)
	}
	return l
}

// fixAfter returns the fix printed under the report line l.
func fixAfter(t *testing.T, out, l string) string {
	t.Helper()
	rest := out[strings.Index(out, l)+len(l)+1:]
	next, _, _ := strings.Cut(rest, "\n")
	fix, ok := strings.CutPrefix(strings.TrimSpace(next), "fix: ")
	if !ok {
		t.Fatalf("no fix under %q:\n%s", l, out)
	}
	return fix
}

func TestDoctorHealthyLocal(t *testing.T) {
	awsEnv(t, true)
	env := localEnv(t)
	r := run(t, env, "doctor")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	dir := env["VMX_DATA_DIR"]
	for _, want := range []struct{ what, detail string }{
		{"configuration", "no problems"},
		{"data dir", dir + ": writable"},
		{"database", "sqlite://" + filepath.Join(dir, "vmx.db") + ": reachable, schema up to date, 0 jobs"},
		{"blob store", filepath.Join(dir, "blobs") + ": wrote, read back and deleted a probe object"},
		{"aws", "credentials …1234 from EnvConfigCredentials, region us-east-1"},
		{"kvs", "not checkable before a voicemail arrives"},
		{"transcriber", "none: voicemails are delivered without a transcript"},
		{"delivery", "modes webhook; default webhook"},
	} {
		if l := line(t, r.stdout, "ok", want.what); !strings.Contains(l, want.detail) {
			t.Errorf("%s: %q, want %q in it", want.what, l, want.detail)
		}
	}
	if strings.Contains(r.stdout, "FAIL") || strings.Contains(r.stdout, "warn ") {
		t.Errorf("healthy configuration reported problems:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "0 failed") {
		t.Errorf("no summary line:\n%s", r.stdout)
	}
	// The probe leaves nothing behind, in the store or the data dir.
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.Contains(path, "probe") || strings.Contains(path, ".doctor-")) {
			t.Errorf("doctor left %s behind", path)
		}
		return nil
	})
}

func TestDoctorBroken(t *testing.T) {
	awsEnv(t, true)
	env := localEnv(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	env["VMX_DATA_DIR"] = filepath.Join(file, "data")
	host, dbPort := closedAddr(t)
	env["VMX_DB"] = "postgres://vmx:hunter2secret@" + host + ":" + strconv.Itoa(dbPort) + "/vmx"
	_, smtpPort := closedAddr(t)
	env["VMX_EMAIL_FROM"] = "Voicemail <voicemail@example.com>"
	env["VMX_EMAIL_TO"] = "ops@example.com"
	env["VMX_SMTP_HOST"] = host
	env["VMX_SMTP_PORT"] = strconv.Itoa(smtpPort)
	env["VMX_SMTP_TLS"] = "none"

	r := run(t, env, "doctor", "--timeout", "5s")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "checks failed") {
		t.Errorf("stderr %q: want the count of failed checks", r.stderr)
	}
	l := line(t, r.stdout, "FAIL", "data dir")
	if !strings.Contains(l, "not a directory") {
		t.Errorf("data dir: %q", l)
	}
	if fix := fixAfter(t, r.stdout, l); !strings.Contains(fix, "data_dir") {
		t.Errorf("data dir fix %q", fix)
	}
	l = line(t, r.stdout, "FAIL", "database")
	if !strings.Contains(l, "postgres://vmx:xxxxx@127.0.0.1:"+strconv.Itoa(dbPort)+"/vmx") || !strings.Contains(l, "refused") {
		t.Errorf("database: %q", l)
	}
	if fix := fixAfter(t, r.stdout, l); !strings.Contains(fix, "PostgreSQL running") {
		t.Errorf("database fix %q", fix)
	}
	if strings.Contains(r.stdout, "hunter2secret") {
		t.Error("the report shows the database password")
	}
	line(t, r.stdout, "FAIL", "blob store")
	l = line(t, r.stdout, "FAIL", "email")
	if !strings.Contains(l, "smtp 127.0.0.1:"+strconv.Itoa(smtpPort)) || !strings.Contains(l, "refused") {
		t.Errorf("email: %q", l)
	}
	if fix := fixAfter(t, r.stdout, l); !strings.Contains(fix, "smtp.host") {
		t.Errorf("email fix %q", fix)
	}
	// What works is still checked and reported.
	line(t, r.stdout, "ok", "delivery")
}

func TestDoctorSMTP(t *testing.T) {
	awsEnv(t, true)
	for _, c := range []struct {
		name     string
		tls      string
		user     string
		password string
		want     string // in the ok line, or "" for a failure
		fail     string
	}{
		{name: "starttls with auth", tls: smtptest.TLSStartTLS, user: "relay", password: "relay-pass", want: "EHLO, STARTTLS, AUTH as relay; no mail sent"},
		{name: "implicit TLS", tls: smtptest.TLSImplicit, want: ", TLS, EHLO; no mail sent"},
		{name: "wrong password", tls: smtptest.TLSStartTLS, user: "relay", password: "wrong", fail: "AUTH PLAIN as relay"},
		{name: "no STARTTLS offered", tls: smtptest.TLSNone, fail: "does not offer STARTTLS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{TLS: c.tls, Username: "relay", Password: "relay-pass"})
			if c.user == "" {
				srv = smtptest.Start(t, smtptest.Options{TLS: c.tls})
			}
			env := localEnv(t)
			env["VMX_EMAIL_FROM"] = "Voicemail <voicemail@example.com>"
			env["VMX_EMAIL_TO"] = "ops@example.com"
			env["VMX_SMTP_HOST"] = srv.Host
			env["VMX_SMTP_PORT"] = strconv.Itoa(srv.Port)
			env["VMX_SMTP_TLS"] = c.tls
			if c.tls == smtptest.TLSNone {
				env["VMX_SMTP_TLS"] = "starttls" // what the relay lacks
			}
			env["VMX_SMTP_CA_FILE"] = srv.CAFile
			env["VMX_SMTP_USERNAME"] = c.user
			env["VMX_SMTP_PASSWORD"] = c.password
			r := run(t, env, "doctor")
			if c.fail != "" {
				if l := line(t, r.stdout, "FAIL", "email"); !strings.Contains(l, c.fail) || r.code != 1 {
					t.Errorf("exit %d, %q: want %q", r.code, l, c.fail)
				}
			} else if l := line(t, r.stdout, "ok", "email"); !strings.Contains(l, c.want) || r.code != 0 {
				t.Errorf("exit %d, %q: want %q\n%s", r.code, l, c.want, r.stdout)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("doctor sent %d messages", n)
			}
		})
	}
}

func TestDoctorS3(t *testing.T) {
	awsEnv(t, true)
	var mu sync.Mutex
	methods := map[string]int{}
	s3srv := blobtest.Gofakes3(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			methods[r.Method]++
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	})
	client := s3.New(s3.Options{Region: s3srv.Region, BaseEndpoint: aws.String(s3srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s3srv.AccessKey, s3srv.SecretKey, "")})
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("recordings")}); err != nil {
		t.Fatal(err)
	}
	env := localEnv(t)
	env["VMX_S3_ENDPOINT"] = s3srv.Endpoint
	env["VMX_S3_PATH_STYLE"] = "true"

	env["VMX_BUCKET"] = "recordings"
	r := run(t, env, "doctor")
	if l := line(t, r.stdout, "ok", "blob store"); !strings.Contains(l, "s3://recordings at "+s3srv.Endpoint+": wrote, read back and deleted") || r.code != 0 {
		t.Errorf("exit %d, %q\n%s", r.code, l, r.stdout)
	}
	mu.Lock()
	if methods[http.MethodPut] != 2 || methods[http.MethodGet] < 1 || methods[http.MethodDelete] != 1 { // bucket, probe; read; delete
		t.Errorf("S3 requests %v: want the probe put, read and deleted", methods)
	}
	mu.Unlock()
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("recordings")})
	if err != nil || len(out.Contents) != 0 {
		t.Errorf("bucket holds %v (%v) after the probe, want nothing", out, err)
	}

	env["VMX_BUCKET"] = "no-such-bucket"
	r = run(t, env, "doctor")
	l := line(t, r.stdout, "FAIL", "blob store")
	if r.code != 1 || !strings.Contains(l, "s3://no-such-bucket") || !strings.Contains(fixAfter(t, r.stdout, l), "bucket exists") {
		t.Errorf("exit %d, %q\n%s", r.code, l, r.stdout)
	}
}

func TestDoctorKVSAndKinesis(t *testing.T) {
	awsEnv(t, true)
	sim := httptest.NewServer(kvssim.New(kvssim.Options{Credentials: &kvssim.Credentials{AccessKeyID: "AKIDDOCTORTEST1234", SecretAccessKey: "doctor-test-secret"}}))
	defer sim.Close()
	var got struct {
		target string
		body   map[string]any
	}
	kinesis := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.target = r.Header.Get("X-Amz-Target")
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &got.body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, `{"StreamDescriptionSummary":{"StreamName":"ctr","StreamARN":"arn:aws:kinesis:us-east-1:111122223333:stream/ctr",`+
			`"StreamStatus":"ACTIVE","OpenShardCount":2,"RetentionPeriodHours":24,"StreamCreationTimestamp":1.7e9,"EnhancedMonitoring":[]}}`)
	}))
	defer kinesis.Close()
	env := localEnv(t)
	env["VMX_KVS_ENDPOINT"] = sim.URL
	env["VMX_KINESIS_STREAM"] = "ctr"
	env["VMX_KINESIS_ENDPOINT"] = kinesis.URL
	r := run(t, env, "doctor")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if l := line(t, r.stdout, "ok", "kvs"); !strings.Contains(l, sim.URL+": answers GetDataEndpoint") {
		t.Errorf("kvs: %q", l)
	}
	if l := line(t, r.stdout, "ok", "kinesis"); !strings.Contains(l, "ctr: ACTIVE, 2 open shards, retention 24 h") {
		t.Errorf("kinesis: %q", l)
	}
	if got.target != "Kinesis_20131202.DescribeStreamSummary" || got.body["StreamName"] != "ctr" {
		t.Errorf("Kinesis received %s %v", got.target, got.body)
	}

	host, port := closedAddr(t)
	env["VMX_KVS_ENDPOINT"] = "http://" + net.JoinHostPort(host, strconv.Itoa(port))
	delete(env, "VMX_KINESIS_STREAM")
	r = run(t, env, "doctor")
	if l := line(t, r.stdout, "FAIL", "kvs"); r.code != 1 || !strings.Contains(l, "refused") {
		t.Errorf("exit %d, %q", r.code, l)
	}
	if strings.Contains(r.stdout, "kinesis ") {
		t.Errorf("kinesis checked without kinesis.stream:\n%s", r.stdout)
	}
}

func TestDoctorAWSServices(t *testing.T) {
	env := localEnv(t)
	env["VMX_CONNECT_ENABLED"] = "true"
	env["VMX_CONNECT_TASK_FLOW_ID"] = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	env["VMX_SUMMARY_MODEL_ID"] = "us.amazon.nova-lite-v1:0"
	env["VMX_SALESFORCE_LOGIN_URL"] = "https://login.example.my.salesforce.com"
	env["VMX_SALESFORCE_CLIENT_ID"] = "3MVG9-doctor-test"
	env["VMX_SALESFORCE_CLIENT_SECRET"] = "doctor-test-salesforce-secret"

	t.Run("credentials", func(t *testing.T) {
		awsEnv(t, true)
		r := run(t, env, "doctor")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		for what, detail := range map[string]string{
			"connect":    "credentials resolve, region us-east-1; not called",
			"bedrock":    "model us.amazon.nova-lite-v1:0 in us-east-1: credentials resolve; not called",
			"salesforce": "https://login.example.my.salesforce.com: client credentials flow; not called",
			"delivery":   "modes sfcase, task, webhook; default webhook",
		} {
			if l := line(t, r.stdout, "ok", what); !strings.Contains(l, detail) {
				t.Errorf("%s: %q, want %q", what, l, detail)
			}
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		awsEnv(t, false)
		r := run(t, env, "doctor")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", r.code, r.stdout)
		}
		if l := line(t, r.stdout, "FAIL", "aws"); !strings.Contains(l, "needed by connect.enabled, summary") {
			t.Errorf("aws: %q", l)
		}
		line(t, r.stdout, "FAIL", "connect")
		line(t, r.stdout, "FAIL", "bedrock")
		line(t, r.stdout, "ok", "salesforce")
	})
	t.Run("no credentials, nothing needs them", func(t *testing.T) {
		awsEnv(t, false)
		r := run(t, localEnv(t), "doctor")
		if l := line(t, r.stdout, "warn", "aws"); r.code != 0 || !strings.Contains(l, "cannot read voicemail audio") {
			t.Errorf("exit %d, %q", r.code, l)
		}
		line(t, r.stdout, "warn", "kvs")
	})
}

func TestDoctorSpeech(t *testing.T) {
	awsEnv(t, true)
	env := localEnv(t)
	env["VMX_TRANSCRIBER"] = "pocketsphinx"
	r := run(t, env, "doctor")
	if builtWithPocketSphinx {
		if l := line(t, r.stdout, "ok", "transcriber"); r.code != 0 || !strings.Contains(l, "pocketsphinx: engine loads") {
			t.Errorf("exit %d, %q (CI must have pocketsphinx-en-us)\n%s", r.code, l, r.stdout)
		}
	} else {
		l := line(t, r.stdout, "FAIL", "transcriber")
		if r.code != 1 || !strings.Contains(l, "without the pocketsphinx build tag") || fixAfter(t, r.stdout, l) != pocketSphinxFix {
			t.Errorf("exit %d, %q\n%s", r.code, l, r.stdout)
		}
	}

	env["VMX_POCKETSPHINX_MODEL_DIR"] = filepath.Join(t.TempDir(), "missing")
	env["VMX_VAD_SILERO_MODEL"] = filepath.Join(t.TempDir(), "silero_vad.onnx")
	r = run(t, env, "doctor")
	l := line(t, r.stdout, "FAIL", "transcriber")
	if r.code != 1 || !strings.Contains(l, "model in "+env["VMX_POCKETSPHINX_MODEL_DIR"]) || !strings.Contains(fixAfter(t, r.stdout, l), "apt-get install pocketsphinx-en-us") {
		t.Errorf("exit %d, %q\n%s", r.code, l, r.stdout)
	}
	if l := line(t, r.stdout, "FAIL", "vad"); !strings.Contains(l, "silero_vad.onnx") {
		t.Errorf("vad: %q", l)
	}
}
