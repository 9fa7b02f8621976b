package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/web"
)

func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsnOf(t), envOptions{})
			e.users()
			c := e.client()

			r := c.get("/voicemails/x?y=1")
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next="+url.QueryEscape("/voicemails/x?y=1") {
				t.Fatalf("signed out: %d to %q", r.status, r.header.Get("Location"))
			}
			form := c.get("/login?next=" + url.QueryEscape("/?status=new"))
			if form.status != http.StatusOK || !strings.Contains(form.body, `<label for="password">Password</label>`) ||
				!strings.Contains(form.body, `name="next" value="/?status=new"`) {
				t.Fatalf("login form: %d\n%s", form.status, form.body)
			}
			for _, tc := range []struct{ user, pw string }{{"amy", "wrong password!"}, {"nobody", password}} {
				r = c.post("/login", url.Values{"_csrf": {csrf(t, form.body)}, "username": {tc.user}, "password": {tc.pw}})
				if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong username or password.") {
					t.Fatalf("sign in as %s with %q: %d\n%s", tc.user, tc.pw, r.status, r.body)
				}
				if c.sessionCookie("vmx_session") != "" {
					t.Fatal("a failed sign-in set a session cookie")
				}
				form = r // a fresh form with a fresh token
			}
			r = c.post("/login", url.Values{"_csrf": {csrf(t, form.body)}, "username": {" AMY "}, "password": {password},
				"next": {"/?status=new"}})
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/?status=new" {
				t.Fatalf("sign in: %d to %q", r.status, r.header.Get("Location"))
			}
			var setCookie string
			for _, v := range r.header.Values("Set-Cookie") {
				if strings.HasPrefix(v, "vmx_session=") {
					setCookie = v
				}
			}
			for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"} {
				if !strings.Contains(setCookie, want) {
					t.Errorf("session cookie %q lacks %s", setCookie, want)
				}
			}
			if strings.Contains(setCookie, "Secure") {
				t.Errorf("session cookie %q is Secure on an http public URL", setCookie)
			}
			// The store keeps the SHA-256 of the cookie, never the cookie.
			cookie := c.sessionCookie("vmx_session")
			ctx := context.Background()
			if u, _, err := e.store.SessionUser(ctx, hashOf(t, cookie), time.Now()); err != nil || u.Username != "amy" {
				t.Fatalf("session by hash: %+v %v", u, err)
			}
			if _, _, err := e.store.SessionUser(ctx, cookie, time.Now()); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("session by the cookie itself: %v", err)
			}
			home := c.get("/")
			if home.status != http.StatusOK || !strings.Contains(home.body, "amy <span class=\"role\">(agent)</span>") {
				t.Fatalf("home: %d\n%s", home.status, home.body)
			}
			// Signed in, the login page goes home.
			if r := c.get("/login"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
				t.Fatalf("login page when signed in: %d %q", r.status, r.header.Get("Location"))
			}

			if r := c.post("/logout", nil); r.status != http.StatusForbidden {
				t.Fatalf("sign out without CSRF token: %d", r.status)
			}
			r = c.post("/logout", url.Values{"_csrf": {csrf(t, home.body)}})
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?done=signedout" {
				t.Fatalf("sign out: %d %q", r.status, r.header.Get("Location"))
			}
			if _, _, err := e.store.SessionUser(ctx, hashOf(t, cookie), time.Now()); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("session after sign-out: %v", err)
			}
			// The old cookie, replayed, no longer signs in.
			old := e.client()
			u, _ := url.Parse(e.srv.URL)
			old.jar.SetCookies(u, []*http.Cookie{{Name: "vmx_session", Value: cookie}})
			if r := old.get("/"); r.status != http.StatusSeeOther {
				t.Fatalf("replayed cookie: %d", r.status)
			}
			if r := c.get("/login?done=signedout"); !strings.Contains(r.body, "You are signed out.") {
				t.Fatalf("signed-out notice missing:\n%s", r.body)
			}
		})
	}
}

func TestSignInRefusesForeignRedirects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), envOptions{})
	e.users()
	for _, next := range []string{"//evil.example/", "https://evil.example/", `/\evil.example`, "javascript:alert(1)"} {
		c := e.client()
		form := c.get("/login")
		r := c.post("/login", url.Values{"_csrf": {csrf(t, form.body)}, "username": {"amy"}, "password": {password}, "next": {next}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
			t.Errorf("next %q: %d to %q", next, r.status, r.header.Get("Location"))
		}
	}
}

func TestSecureCookiesOnHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), envOptions{publicURL: "https://vmx.example.com"})
	e.users()
	c := e.client()
	form := c.get("/login")
	if sc := strings.Join(form.header.Values("Set-Cookie"), "\n"); !strings.Contains(sc, "__Host-vmx_login=") || !strings.Contains(sc, "Secure") {
		t.Fatalf("login cookie: %s", sc)
	}
	// The test server speaks http, so the jar will not send Secure
	// cookies back: post the token by hand.
	token := csrf(t, form.body)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/login", strings.NewReader(url.Values{"_csrf": {token}, "username": {"amy"}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "__Host-vmx_login", Value: token})
	r := e.client().do(req)
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d\n%s", r.status, r.body)
	}
	var session string
	for _, v := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, "__Host-vmx_session=") {
			session = v
		}
	}
	for _, want := range []string{"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie %q lacks %s", session, want)
		}
	}
	if strings.Contains(session, "Domain=") {
		t.Errorf("__Host- cookie with a Domain: %q", session)
	}
}

func TestSignInCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), envOptions{})
	e.users()
	c := e.client()
	form := c.get("/login")
	creds := url.Values{"username": {"amy"}, "password": {password}}
	// No token, then a token that is not the cookie's.
	for _, token := range []string{"", "AAAA" + csrf(t, form.body)[4:]} {
		v := url.Values{"_csrf": {token}}
		for k, s := range creds {
			v[k] = s
		}
		if r := c.post("/login", v); r.status != http.StatusForbidden || !strings.Contains(r.body, "sign-in form expired") {
			t.Fatalf("token %q: %d\n%s", token, r.status, r.body)
		}
	}
	// Without the cookie (another browser, a forged form), the token alone
	// does not do.
	other := e.client()
	v := url.Values{"_csrf": {csrf(t, form.body)}, "username": {"amy"}, "password": {password}}
	if r := other.post("/login", v); r.status != http.StatusForbidden {
		t.Fatalf("token without its cookie: %d", r.status)
	}
}

func TestSignInRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), envOptions{})
	e.users()
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	e.clock.Set(start)
	c := e.client()
	for i := range web.DefaultLoginFailures {
		if r := c.login("amy", "not the password"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, r.status)
		}
	}
	r := c.login("amy", password)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "900" || !strings.Contains(r.body, "Too many failed sign-ins") {
		t.Fatalf("locked out: %d Retry-After %q\n%s", r.status, r.header.Get("Retry-After"), r.body)
	}
	// Other usernames are not locked out.
	if r := e.client().login("bob", password); r.status != http.StatusSeeOther {
		t.Fatalf("bob: %d", r.status)
	}
	e.clock.Set(start.Add(web.DefaultLoginLockout - time.Second))
	if r := c.login("AMY", password); r.status != http.StatusTooManyRequests {
		t.Fatalf("before the lockout ends: %d", r.status)
	}
	e.clock.Set(start.Add(web.DefaultLoginLockout))
	if r := c.login("amy", password); r.status != http.StatusSeeOther {
		t.Fatalf("after the lockout: %d\n%s", r.status, r.body)
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), envOptions{})
	e.users()
	start := time.Now()
	e.clock.Set(start)
	c := e.signIn("amy")
	e.clock.Set(start.Add(web.DefaultSessionLifetime - time.Second))
	if r := c.get("/"); r.status != http.StatusOK {
		t.Fatalf("before expiry: %d", r.status)
	}
	e.clock.Set(start.Add(web.DefaultSessionLifetime))
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("after expiry: %d", r.status)
	}
}

func TestCSRFOnActions(t *testing.T) {
	t.Parallel()
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsnOf(t), envOptions{})
			e.users()
			e.put(vm("va1", queueA))
			amy, bob := e.signIn("amy"), e.signIn("bob")
			for _, tc := range []struct {
				name   string
				token  string
				header bool
				want   int
			}{
				{"no token", "", false, http.StatusForbidden},
				{"wrong token", "x" + amy.token()[1:], false, http.StatusForbidden},
				{"another session's token", bob.token(), false, http.StatusForbidden},
				{"token in the header", amy.token(), true, http.StatusSeeOther},
			} {
				form := url.Values{"state": {"handled"}}
				if !tc.header && tc.token != "" {
					form.Set("_csrf", tc.token)
				}
				req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/voicemails/va1/state", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tc.header {
					req.Header.Set("X-CSRF-Token", tc.token)
				}
				r := amy.do(req)
				if r.status != tc.want {
					t.Fatalf("%s: %d, want %d\n%s", tc.name, r.status, tc.want, r.body)
				}
				if got := e.state("va1").State; (got == store.InboxHandled) != (tc.want == http.StatusSeeOther) {
					t.Fatalf("%s: state %q", tc.name, got)
				}
			}
		})
	}
}

func TestNewUser(t *testing.T) {
	t.Parallel()
	now := time.Now()
	u, err := web.NewUser(web.UserSpec{Username: " Amy.Chen@Example.com ", Password: password, Role: store.RoleAgent,
		AgentID: "a-1", Queues: []string{queueA}}, 4, now)
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "amy.chen@example.com" || u.PasswordHash == "" || strings.Contains(u.PasswordHash, password) || len(u.Queues) != 1 {
		t.Fatalf("user %+v", u)
	}
	_, err = web.NewUser(web.UserSpec{Username: "bad name", Password: "short", Role: "boss", Queues: []string{"queue-a"}}, 4, now)
	for _, want := range []string{`username "bad name"`, `role "boss"`, `queue "queue-a"`, "8 to 72 bytes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if _, err := web.HashPassword(strings.Repeat("x", 73), 4); err == nil {
		t.Error("a 73-byte password was hashed: bcrypt would ignore its end")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := (web.Config{PublicURL: "https://vmx.example.com"}).Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	err := web.Config{PublicURL: "vmx.example.com", SessionLifetime: time.Second, PageSize: 500,
		PollInterval: time.Millisecond, LoginFailures: -1, PasswordCost: 40}.Validate()
	for _, want := range []string{"public URL", "session lifetime", "page size", "poll interval", "login failures", "password cost"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
