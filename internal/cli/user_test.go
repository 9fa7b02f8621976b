package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/vmx-dev/vmx/internal/store"
)

func TestUserAdd(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	queue := "arn:aws:connect:us-east-1:111122223333:instance/inst-1/queue/qa"
	add := func(stdin string, args ...string) (int, string, error) {
		var out bytes.Buffer
		env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &bytes.Buffer{},
			Getenv: func(k string) string { return map[string]string{"VMX_DATA_DIR": dir}[k] }}
		code, err := runUser(ctx, env, append([]string{"add", "--cost", "4"}, args...))
		return code, out.String(), err
	}
	code, out, err := add("s3cret password\n", "--role", "agent", "--queue", queue, "--agent-username", "Amy.C", "Amy")
	if code != 0 || err != nil || out != "added user amy (agent)\n" {
		t.Fatalf("add: %d %q %v", code, out, err)
	}
	if code, _, err := add("another password\n", "--role", "admin", "amy"); code != 1 || err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("add again: %d %v", code, err)
	}
	if code, out, err := add("", "--role", "admin", "--password", "flag password", "--replace", "amy"); code != 0 || err != nil || out != "replaced user amy (admin)\n" {
		t.Fatalf("replace: %d %q %v", code, out, err)
	}
	if code, _, err := add("", "--role", "agent", "cy"); code != 1 || err == nil || !strings.Contains(err.Error(), "no password") {
		t.Fatalf("no password: %d %v", code, err)
	}
	if code, _, err := add("pw\n", "--role", "boss", "--queue", "q1", "dee"); code != 1 || err == nil ||
		!strings.Contains(err.Error(), `role "boss"`) || !strings.Contains(err.Error(), `queue "q1"`) {
		t.Fatalf("bad user: %d %v", code, err)
	}
	if code, _, err := add("pw\n", "--role", "agent"); code != 2 || err == nil {
		t.Fatalf("no username: %d %v", code, err)
	}

	var stderr bytes.Buffer
	env := &Env{Stderr: &stderr, Getenv: func(k string) string { return map[string]string{"VMX_DATA_DIR": dir}[k] }}
	cfg, _, err := loadConfig(env, newFlagSet(env, "t", ""), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dbDSN(cfg), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.GetUser(ctx, "amy")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != store.RoleAdmin || u.AgentUsername != "" || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("flag password")) != nil {
		t.Fatalf("stored user %+v", u)
	}
}
