package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/connect/connecttest"
	"github.com/vmx-dev/vmx/internal/email"
	"github.com/vmx-dev/vmx/internal/email/smtptest"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/wav"
	"github.com/vmx-dev/vmx/internal/webhook"
)

// TestMain lets the test binary stand in for vmx: tests start it as a
// subprocess with VMX_TEST_MAIN=1 and kill it at will.
func TestMain(m *testing.M) {
	if os.Getenv("VMX_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, os.Args[1:], StdEnv())
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// hookLog is a webhook receiver that verifies signatures and keeps every
// delivery it got, by contact and delivery key, and the verified bodies.
type hookLog struct {
	secret []byte
	mu     sync.Mutex
	posts  map[string]map[string]int // contact → delivery key → posts
	bodies []webhook.Body
	bad    int
}

func newHookLog(secret string) *hookLog {
	return &hookLog{secret: []byte(secret), posts: map[string]map[string]int{}}
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := webhook.Verify(h.secret, r.Header, body, time.Now(), time.Minute); err != nil {
		h.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var b webhook.Body
	json.Unmarshal(body, &b)
	h.bodies = append(h.bodies, b)
	if h.posts[b.ContactID] == nil {
		h.posts[b.ContactID] = map[string]int{}
	}
	h.posts[b.ContactID][r.Header.Get(webhook.HeaderDelivery)]++
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// vmx is a `vmx serve` subprocess that the test kills and restarts.
type vmx struct {
	t    *testing.T
	env  []string
	logs *os.File
	cmd  *exec.Cmd
	url  string
}

func (v *vmx) start() {
	v.t.Helper()
	v.cmd = exec.Command(os.Args[0], "serve")
	v.cmd.Env = v.env
	v.cmd.Stdout, v.cmd.Stderr = v.logs, v.logs
	if err := v.cmd.Start(); err != nil {
		v.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(v.url + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	logs, _ := os.ReadFile(v.logs.Name())
	v.t.Fatalf("vmx serve did not come up:\n%s", logs)
}

func (v *vmx) kill() {
	v.cmd.Process.Signal(syscall.SIGKILL)
	v.cmd.Wait()
}

// TestCrashRecovery kills `vmx serve` with SIGKILL at random moments while
// 50 voicemails flow through it, restarting it each time, and requires every
// voicemail to be stored with the caller's exact audio and delivered once to
// each of its destinations: a signed webhook, an e-mail (SMTP) and an Amazon
// Connect task. A kill between a destination's answer and the commit of its
// receipt makes vmx deliver again with the same idempotency key: the same
// X-VMX-Delivery header, the same Message-ID, the same ClientToken (which
// Connect, and the fake, answer with the first task). Receivers de-duplicate
// on those; such repeats are counted and reported, and a second task or a
// second distinct mail for one voicemail fails the test.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	const n = 50
	sim := kvssim.New(kvssim.Options{})
	start := time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC)
	var records [][]byte
	wantSHA := map[string]string{}
	for i := range n {
		contact := fmt.Sprintf("cc000000-0000-4000-8000-%012d", i)
		at := start.Add(time.Duration(i) * time.Minute)
		var w bytes.Buffer
		if err := synth.WriteWAV(&w, synth.Spec{Seconds: 1.5, Prompt: 0.2, Seed: uint64(i + 1), ContactID: contact, Start: at}); err != nil {
			t.Fatal(err)
		}
		var from []byte
		stereo := w.Bytes()[wav.HeaderSize:]
		for j := 0; j+4 <= len(stereo); j += 4 {
			from = append(from, stereo[j:j+2]...)
		}
		sum := sha256.Sum256(from)
		wantSHA[contact] = hex.EncodeToString(sum[:])
		src, err := kvssim.FromWAV(&w, kvssim.Contact{ContactID: contact, Start: at})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("s%d", i)
		sim.AddStream(name, src)
		arn, _ := sim.StreamARN(name)
		frags, _ := sim.Fragments(name)
		rec, _ := json.Marshal(map[string]any{
			"ContactId": contact, "Channel": "VOICE", "InitiationTimestamp": at.Format(time.RFC3339),
			"InstanceARN": "arn:aws:connect:us-east-1:111122223333:instance/11111111-2222-3333-4444-555555555555",
			"Attributes": map[string]string{"vmx3_flag": "1", "vmx3_from": "+15555550123", "vmx3_lang": "en-US", "vmx3_mode": "webhook,email,task",
				"vmx3_queue_arn": "arn:aws:connect:us-east-1:111122223333:instance/11111111-2222-3333-4444-555555555555/queue/66666666-7777-8888-9999-000000000000"},
			"Recordings": []map[string]any{{"Location": arn, "StorageType": "KINESIS_VIDEO_STREAM", "ParticipantType": "CUSTOMER",
				"FragmentStartNumber": frags[0].Number, "FragmentStopNumber": frags[len(frags)-1].Number,
				"StartTimestamp": at.Format(time.RFC3339), "StopTimestamp": at.Add(time.Minute).Format(time.RFC3339)}},
		})
		records = append(records, rec)
	}
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()

	for dbName, newDB := range storetest.DSNs(t) {
		t.Run(dbName, func(t *testing.T) {
			dsn := ""
			if dbName != "sqlite" {
				dsn = newDB(t) // SQLite stays vmx's default: a file in its data directory
			}
			hooks := newHookLog("crash-test-secret")
			hookSrv := httptest.NewServer(hooks)
			defer hookSrv.Close()
			cf := connecttest.Start(t, connecttest.Options{InstanceID: "11111111-2222-3333-4444-555555555555"})
			cf.AddQueue(connecttest.Queue{ID: "66666666-7777-8888-9999-000000000000", Name: "Sales",
				Tags: map[string]string{connect.QueueEmailTag: "sales@example.com"}})
			mail := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSNone})
			dir := t.TempDir()
			addr := freePort(t)
			logs, _ := os.Create(filepath.Join(dir, "vmx.log"))
			defer logs.Close()
			// A kill leaves the e-mail sink's temporary copy of a recording
			// behind: keep those out of the machine's temporary directory.
			env := append(os.Environ(), "VMX_TEST_MAIN=1", "TMPDIR="+t.TempDir(),
				"VMX_DATA_DIR="+dir, "VMX_LISTEN="+addr, "VMX_API_KEY=crash-test-api-key",
				"VMX_WEBHOOK_URL="+hookSrv.URL, "VMX_WEBHOOK_SECRET=crash-test-secret",
				"VMX_KVS_ENDPOINT="+simSrv.URL, "VMX_JOBS_RESCUE_AFTER=2s", "VMX_LOG_LEVEL=warn",
				"VMX_CONNECT_ENABLED=true", "VMX_CONNECT_ENDPOINT="+cf.URL, "VMX_CONNECT_TASK_FLOW_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
				"VMX_EMAIL_FROM=Voicemail <voicemail@example.com>", "VMX_SMTP_HOST="+mail.Host, fmt.Sprintf("VMX_SMTP_PORT=%d", mail.Port), "VMX_SMTP_TLS=none",
				"AWS_ACCESS_KEY_ID=k", "AWS_SECRET_ACCESS_KEY=s", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
			if dsn != "" {
				env = append(env, "VMX_DB="+dsn)
			}
			v := &vmx{t: t, env: env, logs: logs, url: "http://" + addr}
			v.start()

			seed := uint64(time.Now().UnixNano())
			t.Logf("kill schedule seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			post := func(body []byte) bool {
				req, _ := http.NewRequest(http.MethodPost, v.url+"/v1/ctr", bytes.NewReader(body))
				req.Header.Set("X-API-Key", "crash-test-api-key")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode < 300
			}
			// Post every record (some twice) while vmx is killed at random;
			// a record is re-posted until vmx took it, as Kinesis would.
			kills := 0
			for i := 0; i < n; {
				batch := records[i:min(i+5, n)]
				var body []byte
				for _, r := range batch {
					body = append(append(body, r...), '\n')
				}
				if i > 0 && rng.IntN(2) == 0 {
					body = append(append(body, records[rng.IntN(i)]...), '\n')
				}
				if post(body) {
					i += len(batch)
				}
				if rng.IntN(2) == 0 {
					time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
					v.kill()
					kills++
					v.start()
				}
			}
			// A few more kills while the pipeline drains.
			for range 5 {
				time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
				v.kill()
				kills++
				v.start()
			}
			defer v.kill()

			deadline := time.Now().Add(90 * time.Second)
			for {
				var page struct {
					Voicemails []struct {
						ContactID string `json:"contact_id"`
						AudioSHA  string `json:"audio_sha256"`
						Status    string `json:"status"`
						Error     string `json:"error"`
					} `json:"voicemails"`
				}
				req, _ := http.NewRequest(http.MethodGet, v.url+"/v1/voicemails?limit=500", nil)
				req.Header.Set("X-API-Key", "crash-test-api-key")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					json.NewDecoder(resp.Body).Decode(&page)
					resp.Body.Close()
				}
				delivered := 0
				for _, vm := range page.Voicemails {
					if vm.Status == "failed" {
						t.Fatalf("%s failed: %s", vm.ContactID, vm.Error)
					}
					if vm.Status == "delivered" {
						delivered++
						if vm.AudioSHA != wantSHA[vm.ContactID] {
							t.Fatalf("%s: stored audio %s, want %s", vm.ContactID, vm.AudioSHA, wantSHA[vm.ContactID])
						}
					}
				}
				if len(page.Voicemails) == n && delivered == n {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %d kills: %d voicemails stored, %d delivered (log %s)", kills, len(page.Voicemails), delivered, logs.Name())
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // a late duplicate would arrive now
			hooks.mu.Lock()
			defer hooks.mu.Unlock()
			repeats := 0
			for contact := range wantSHA {
				keys := hooks.posts[contact]
				if len(keys) != 1 {
					t.Fatalf("%s: %d delivery keys %v, want exactly 1", contact, len(keys), keys)
				}
				for _, posts := range keys {
					repeats += posts - 1
				}
			}
			if hooks.bad != 0 {
				t.Fatalf("%d webhooks with a bad signature", hooks.bad)
			}
			taskRepeats := crashTasks(t, cf, wantSHA)
			mailRepeats := crashMail(t, mail, wantSHA)
			for contact := range wantSHA {
				if len(cf.ContactAttributes(contact)) == 0 || cf.ContactAttributes(contact)["vmx3_flag"] != "0" {
					t.Errorf("%s: flag not reset: %v", contact, cf.ContactAttributes(contact))
				}
			}
			t.Logf("%d voicemails delivered exactly once each to webhook, e-mail and task across %d SIGKILLs; "+
				"repeats with the same idempotency key: %d webhooks (X-VMX-Delivery), %d e-mails (Message-ID), %d tasks (ClientToken, answered with the first task)",
				n, kills, repeats, mailRepeats, taskRepeats)
		})
	}
}

// crashTasks requires one Connect task per voicemail, every attempt of a
// voicemail carrying the ClientToken of its delivery key, and returns how
// many requests Connect answered with a task it already had.
func crashTasks(t *testing.T, cf *connecttest.Server, contacts map[string]string) int {
	t.Helper()
	tokens := map[string]string{} // ClientToken → contact
	for _, r := range cf.Requests(connecttest.OpStartTaskContact) {
		contact, _ := r.Body["PreviousContactId"].(string)
		token, _ := r.Body["ClientToken"].(string)
		if token != connect.ClientToken(contact+":task") {
			t.Fatalf("%s: StartTaskContact with ClientToken %q, not the delivery key's", contact, token)
		}
		tokens[token] = contact
	}
	tasks := cf.Tasks()
	perContact := map[string]int{}
	repeats := 0
	for _, task := range tasks {
		perContact[task.Body["PreviousContactId"].(string)]++
		repeats += task.Requests - 1
		if task.Mismatches != 0 {
			t.Errorf("task %s: %d retries with its token changed the request", task.ContactID, task.Mismatches)
		}
	}
	if len(tokens) != len(contacts) || len(tasks) != len(contacts) {
		t.Fatalf("%d distinct ClientTokens made %d tasks, want %d of each", len(tokens), len(tasks), len(contacts))
	}
	for contact := range contacts {
		if perContact[contact] != 1 {
			t.Fatalf("%s: %d tasks, want exactly 1", contact, perContact[contact])
		}
	}
	return repeats
}

// crashMail requires one distinct e-mail per voicemail and returns how many
// copies arrived again. A kill after the SMTP server accepted a message and
// before vmx committed its receipt sends it again; the copy carries the same
// Message-ID and X-VMX-Delivery and the same recording, so a receiver can
// drop it.
func crashMail(t *testing.T, srv *smtptest.Server, contacts map[string]string) int {
	t.Helper()
	type copies struct {
		id, delivery, attachment string
		n                        int
	}
	got := map[string]*copies{} // contact → its mail
	ids := map[string]bool{}
	for _, m := range srv.Messages() {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		contact := p.Header.Get(email.HeaderContactID)
		if _, ok := contacts[contact]; !ok || len(p.Files) != 1 {
			t.Fatalf("e-mail for contact %q with %d attachments", contact, len(p.Files))
		}
		c := copies{id: p.Header.Get("Message-Id"), delivery: p.Header.Get(email.HeaderDelivery), attachment: sha(p.Files[0].Data), n: 1}
		ids[c.id] = true
		prev := got[contact]
		if prev == nil {
			got[contact] = &c
			continue
		}
		if c.id != prev.id || c.delivery != prev.delivery || c.attachment != prev.attachment {
			t.Fatalf("%s: a repeated e-mail differs: %+v, first %+v", contact, c, *prev)
		}
		prev.n++
	}
	repeats := 0
	for contact := range contacts {
		c := got[contact]
		if c == nil || c.id != email.MessageID(contact+":email", "vmx.example.com") || c.delivery != contact+":email" {
			t.Fatalf("%s: e-mail %+v, want one with the delivery key's Message-ID", contact, c)
		}
		repeats += c.n - 1
	}
	if len(ids) != len(contacts) {
		t.Fatalf("%d distinct Message-IDs, want %d", len(ids), len(contacts))
	}
	return repeats
}
