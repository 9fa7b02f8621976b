package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/web"
	"github.com/vmx-dev/vmx/internal/web/browsertest"
)

// inboxScript signs in as an agent of queue A, waits for a voicemail to
// arrive live, plays it, seeks by its transcript, marks it handled and
// checks that queue B's voicemail stays out of sight, with screenshots.
const inboxScript = `
const base = process.env.BASE, shots = process.env.SHOTS;
(async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    page.setDefaultTimeout(15000);
    await page.goto(base + '/');
    expect(page.url().startsWith(base + '/login'), 'not sent to sign in: ' + page.url());
    await page.getByLabel('Username').fill('amy');
    await page.getByLabel('Password').fill(process.env.PASSWORD);
    await Promise.all([page.waitForURL(base + '/'), page.getByRole('button', { name: 'Sign in' }).click()]);

    await page.waitForSelector('tr[data-id="seed-a"]');
    expect(await page.locator('tr[data-id="seed-b"]').count() === 0, "queue B's voicemail is listed");
    await page.waitForSelector('html[data-live="on"]');

    // The Go test delivers a voicemail now.
    const r = await fetch(base + '/__test/arrive', { method: 'POST' });
    expect(r.ok, 'arrive: ' + r.status);
    await page.waitForSelector('tr[data-id="new-a"].arrived');
    await page.waitForFunction(() => document.getElementById('live').textContent.includes('New voicemail from'));
    const announced = await page.textContent('#live');
    const rows = await page.$$eval('tr[data-id]', (trs) => trs.map((tr) => tr.dataset.id));
    await page.screenshot({ path: shots + '/list.png', fullPage: true });

    await Promise.all([page.waitForURL(/\/voicemails\/new-a$/),
      page.getByRole('link', { name: 'Voicemail from +15555550133' }).click()]);
    const duration = await page.evaluate(() => new Promise((resolve, reject) => {
      const a = document.getElementById('player');
      if (a.readyState >= 1) return resolve(a.duration);
      a.addEventListener('loadedmetadata', () => resolve(a.duration));
      a.addEventListener('error', () => reject(new Error('audio error ' + (a.error && a.error.code))));
      a.load();
    }));
    expect(duration > 0, 'duration ' + duration);

    await page.getByRole('button', { name: /please call me back/ }).click();
    await page.waitForFunction(() => document.getElementById('player').currentTime >= 1.5);
    const seekedTo = await page.evaluate(() => document.getElementById('player').currentTime);
    // The keyboard works too: the first line, by Enter.
    await page.locator('button.seg').first().focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('player').currentTime < 1.2);
    const keyedTo = await page.evaluate(() => document.getElementById('player').currentTime);
    await page.screenshot({ path: shots + '/detail.png', fullPage: true });

    await Promise.all([page.waitForURL(/done=handled$/), page.getByRole('button', { name: 'Mark handled' }).click()]);
    const notice = await page.textContent('.notice');

    const hidden = await page.goto(base + '/voicemails/seed-b');
    const hiddenStatus = hidden.status();

    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(base + '/');
    await page.screenshot({ path: shots + '/list-phone.png', fullPage: true });
    await page.goto(base + '/voicemails/new-a');
    await page.screenshot({ path: shots + '/detail-phone.png', fullPage: true });

    console.log(JSON.stringify({ announced, rows, duration, seekedTo, keyedTo, notice, hiddenStatus }));
  } finally {
    await browser.close();
  }
})();
`

func TestInboxInBrowser(t *testing.T) {
	t.Parallel()
	b := browsertest.Require(t)
	e := newEnv(t, storetest.SQLite(t), envOptions{})
	e.users()
	seed := vm("seed-a", queueA)
	seed.Caller, seed.Transcript = "+15555550111", "an older message"
	seed.CallTime = time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	e.put(seed)
	other := vm("seed-b", queueB)
	other.Caller = "+15555550122"
	e.put(other)

	// The voicemail that arrives while the page is open, audio and
	// transcript stored ahead.
	arrival := vm("new-a", queueA)
	arrival.Caller, arrival.Route = "+15555550133", voicemail.Route{QueueARN: queueA, QueueName: "Sales"}
	arrival.Mode = "inbox"
	e.putAudio(arrival, 3*time.Second, []asr.Segment{
		{StartMS: 250, EndMS: 1200, Text: "hello this is Sam"},
		{StartMS: 1500, EndMS: 2800, Text: "please call me back"},
	})
	arrive, arrived := make(chan struct{}), make(chan struct{})
	e.mux.HandleFunc("POST /__test/arrive", func(w http.ResponseWriter, r *http.Request) {
		arrive <- struct{}{}
		<-arrived
		w.WriteHeader(http.StatusNoContent)
	})

	shots := t.TempDir()
	if dir := os.Getenv("VMX_TEST_ARTIFACTS"); dir != "" {
		shots = filepath.Join(dir, "web")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := b.Run(ctx, inboxScript, "BASE="+e.srv.URL, "SHOTS="+shots, "PASSWORD="+password)
		done <- result{out, err}
	}()
	var res result
	select {
	case <-arrive:
		e.put(arrival)
		if _, err := web.NewSink(e.store).Deliver(ctx, &voicemail.Delivery{Record: *arrival}, "new-a:inbox"); err != nil {
			t.Fatal(err)
		}
		close(arrived)
		res = <-done
	case res = <-done:
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	var got struct {
		Announced    string
		Rows         []string
		Duration     float64
		SeekedTo     float64
		KeyedTo      float64
		Notice       string
		HiddenStatus int
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(res.out)), &got); err != nil {
		t.Fatalf("script output %q: %v", res.out, err)
	}
	t.Logf("browser: %+v; screenshots in %s", got, shots)
	if got.Announced != "New voicemail from +15555550133 for Sales." {
		t.Errorf("announced %q", got.Announced)
	}
	if strings.Join(got.Rows, ",") != "new-a,seed-a" {
		t.Errorf("rows %v", got.Rows)
	}
	if got.Duration < 2.9 || got.Duration > 3.1 {
		t.Errorf("duration %v, want 3 s", got.Duration)
	}
	if got.SeekedTo < 1.5 || got.SeekedTo > 2.8 {
		t.Errorf("after clicking the second line the player is at %v, want 1.5 s on", got.SeekedTo)
	}
	if got.KeyedTo < 0.25 || got.KeyedTo >= 1.2 {
		t.Errorf("after Enter on the first line the player is at %v, want 0.25 s on", got.KeyedTo)
	}
	if got.Notice != "Marked handled." {
		t.Errorf("notice %q", got.Notice)
	}
	if got.HiddenStatus != http.StatusNotFound {
		t.Errorf("queue B's voicemail: %d, want 404", got.HiddenStatus)
	}
	if it := e.state("new-a"); it.State != store.InboxHandled || it.ChangedBy != "amy" {
		t.Errorf("after the browser: %+v", it)
	}
	for _, name := range []string{"list.png", "detail.png", "list-phone.png", "detail-phone.png"} {
		if fi, err := os.Stat(filepath.Join(shots, name)); err != nil || fi.Size() < 1000 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
}
