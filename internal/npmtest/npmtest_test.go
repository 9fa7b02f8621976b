package npmtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// dirEnv is the variable the tests' packages are installed under.
const dirEnv = "VMX_NPMTEST_TEST_DIR"

// isNumber is a small package without dependencies.
func isNumber(version string) Package {
	return Package{Name: "is-number", Version: version, DirEnv: dirEnv, DirName: "vmx-npmtest", Files: []string{"index.js"}}
}

// cacheDir points dirEnv at a fresh directory for t and returns it.
func cacheDir(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "cache")
	t.Setenv(dirEnv, root)
	return root
}

func install(t *testing.T, p Package) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := Install(ctx, p)
	SkipOrFail(t, err)
	return dir
}

// node runs a node one-liner with args and returns its stdout.
func node(t *testing.T, script string, args ...string) string {
	t.Helper()
	out, err := exec.Command("node", append([]string{"-e", script}, args...)...).Output()
	if err != nil {
		t.Fatalf("node -e %s: %v", script, err)
	}
	return string(out)
}

func version(t *testing.T, pkg string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Version string }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Version
}

// onlyEntry fails t unless dir holds name and nothing else: no temporary
// installation is left behind.
func onlyEntry(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("%s holds %v, want only %s", dir, names, name)
	}
}

func TestInstall(t *testing.T) {
	root := cacheDir(t)
	p := isNumber("7.0.0")
	dir := install(t, p)
	if want := filepath.Join(root, "node_modules", "is-number"); dir != want {
		t.Fatalf("dir %s, want %s", dir, want)
	}
	if v := version(t, dir); v != "7.0.0" {
		t.Fatalf("installed version %s", v)
	}
	if got := node(t, "process.stdout.write(String(require(process.argv[1])(5)))", dir); got != "true" {
		t.Fatalf("is-number(5) = %s", got)
	}
	onlyEntry(t, filepath.Dir(root), "cache")

	// Installed, it runs no npm: not with a cancelled context, nor without
	// npm on PATH.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if again, err := Install(ctx, p); err != nil || again != dir {
		t.Fatalf("second install: %s, %v", again, err)
	}
	nodeOnly(t)
	if again, err := Install(context.Background(), p); err != nil || again != dir {
		t.Fatalf("install without npm: %s, %v", again, err)
	}
	cacheDir(t)
	if _, err := Install(context.Background(), p); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "npm") {
		t.Fatalf("fresh install without npm: %v", err)
	}
}

// nodeOnly sets PATH, for t, to a directory holding node and no npm.
func nodeOnly(t *testing.T) {
	t.Helper()
	nodePath, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(nodePath, filepath.Join(bin, "node")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
}

func TestInstallReplacesOtherVersion(t *testing.T) {
	root := cacheDir(t)
	if v := version(t, install(t, isNumber("6.0.0"))); v != "6.0.0" {
		t.Fatalf("first install: version %s", v)
	}
	dir := install(t, isNumber("7.0.0"))
	if v := version(t, dir); v != "7.0.0" {
		t.Fatalf("second install: version %s", v)
	}
	onlyEntry(t, filepath.Dir(root), "cache")
}

func TestInstallOverrides(t *testing.T) {
	root := cacheDir(t)
	// is-odd 3.0.1 asks for is-number ^6.0.0.
	p := Package{Name: "is-odd", Version: "3.0.1", Overrides: map[string]string{"is-number": "7.0.0"},
		DirEnv: dirEnv, DirName: "vmx-npmtest"}
	dir := install(t, p)
	if v := version(t, filepath.Join(root, "node_modules", "is-number")); v != "7.0.0" {
		t.Fatalf("overridden is-number: version %s", v)
	}
	if got := node(t, "process.stdout.write(String(require(process.argv[1])(3)))", dir); got != "true" {
		t.Fatalf("is-odd(3) = %s", got)
	}
}

func TestInstallMissingFile(t *testing.T) {
	cacheDir(t)
	p := isNumber("7.0.0")
	p.Files = []string{"index.js", "no-such-file.js"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := Install(ctx, p)
	if errors.Is(err, ErrUnavailable) {
		SkipOrFail(t, err)
	}
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("install of a package without its files: %v", err)
	}
}

// TestInstallConcurrent installs from several goroutines at once, as
// concurrent test binaries do: every one gets the one valid installation,
// and once there it never goes away, not even for a moment.
func TestInstallConcurrent(t *testing.T) {
	root := cacheDir(t)
	p := isNumber("7.0.0")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pkg := filepath.Join(root, "node_modules", "is-number")
	done := make(chan struct{})
	watched := make(chan error, 1)
	go func() {
		seen := false
		for {
			ok := p.installed(pkg)
			if seen && !ok {
				watched <- errors.New("the installation went away after it was there")
				return
			}
			seen = seen || ok
			select {
			case <-done:
				watched <- nil
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	const n = 4
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dirs[i], errs[i] = Install(ctx, p) })
	}
	wg.Wait()
	close(done)
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		SkipOrFail(t, errs[i])
		if dirs[i] != pkg {
			t.Fatalf("install %d: dir %s", i, dirs[i])
		}
	}
	if v := version(t, dirs[0]); v != "7.0.0" {
		t.Fatalf("version %s", v)
	}
	if got := node(t, "process.stdout.write(String(require(process.argv[1])('x')))", dirs[0]); got != "false" {
		t.Fatalf("is-number('x') = %s", got)
	}
	onlyEntry(t, filepath.Dir(root), "cache")
}

func TestInstallWithoutNode(t *testing.T) {
	cacheDir(t)
	t.Setenv("PATH", t.TempDir())
	_, err := Install(context.Background(), isNumber("7.0.0"))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "node") {
		t.Fatalf("install without node: %v", err)
	}
}

func TestInstallInvalid(t *testing.T) {
	_, err := Install(context.Background(), Package{Name: "is-number", DirName: "x"})
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("install without a version: %v", err)
	}
}

func TestDir(t *testing.T) {
	p := Package{Name: "x", Version: "1.0.0", DirEnv: dirEnv, DirName: "vmx-x"}
	t.Setenv(dirEnv, "/somewhere/else")
	if d, err := p.Dir(); err != nil || d != "/somewhere/else" {
		t.Fatalf("dir from %s: %s, %v", dirEnv, d, err)
	}
	t.Setenv(dirEnv, "")
	t.Setenv("GOCACHE", "/cache/go-build")
	if d, err := p.Dir(); err != nil || d != "/cache/vmx-x" {
		t.Fatalf("dir beside GOCACHE: %s, %v", d, err)
	}
	t.Setenv("GOCACHE", "off")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	user, err := os.UserCacheDir()
	if err != nil {
		t.Skip(err)
	}
	if d, err := p.Dir(); err != nil || d != filepath.Join(user, "vmx-x") {
		t.Fatalf("dir without a build cache: %s, %v", d, err)
	}
}

// fakeTB records how SkipOrFail ends a test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Skip(...any)       { f.skipped = true }
func (f *fakeTB) Fatal(args ...any) { f.failed = true }

func TestSkipOrFail(t *testing.T) {
	unavailable := fmt.Errorf("npmtest: install x: %w: no node", ErrUnavailable)
	for _, c := range []struct {
		name          string
		err           error
		ci            string
		skip, failure bool
	}{
		{name: "no error", err: nil},
		{name: "unavailable", err: unavailable, skip: true},
		{name: "unavailable in CI", err: unavailable, ci: "true", failure: true},
		{name: "other error", err: errors.New("npm install: 404"), failure: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CI", c.ci)
			tb := &fakeTB{}
			SkipOrFail(tb, c.err)
			if tb.skipped != c.skip || tb.failed != c.failure {
				t.Fatalf("skipped %v, failed %v; want %v, %v", tb.skipped, tb.failed, c.skip, c.failure)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	t.Setenv("CI", "")
	tb := &fakeTB{}
	got := Require(tb, func(ctx context.Context) (string, error) {
		if d, ok := ctx.Deadline(); !ok || time.Until(d) < time.Minute {
			return "", fmt.Errorf("deadline %v, %v: no room to install", d, ok)
		}
		return "server", nil
	})
	if got != "server" || tb.skipped || tb.failed {
		t.Fatalf("Require = %q, skipped %v, failed %v", got, tb.skipped, tb.failed)
	}
	Require(tb, func(context.Context) (*int, error) { return nil, fmt.Errorf("x: %w", ErrUnavailable) })
	if !tb.skipped || tb.failed {
		t.Fatalf("unavailable: skipped %v, failed %v", tb.skipped, tb.failed)
	}
}
