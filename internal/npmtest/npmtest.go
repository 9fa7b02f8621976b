// Package npmtest installs npm packages for tests and runs them with node:
// the emulators and browser drivers that vmx's test harnesses (kinesistest,
// sestest, browsertest) are built on.
//
// A package is installed once, on first use, into a cache directory shared
// by all test runs and binaries: an environment variable's value, or a
// directory beside the Go build cache. Without node or npm, Install fails
// with ErrUnavailable, and SkipOrFail skips the test unless it runs in CI.
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
	"testing"
	"time"
)

// ErrUnavailable is returned, wrapped, when a program a test needs, such
// as node or npm, is missing.
var ErrUnavailable = errors.New("npmtest: a program the test needs is missing")

// SkipOrFail ends tb's test when err is not nil: it skips it when err is
// ErrUnavailable, unless the environment variable CI is set, so that a
// build machine without node never passes a test it did not run; it fails
// it otherwise.
func SkipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") == "" {
		tb.Skip(err)
		return
	}
	tb.Fatal(err)
}

// Require calls open, with a deadline that leaves room for a first
// install, and returns what it opened; when open fails, it ends tb's test
// as SkipOrFail does.
func Require[T any](tb testing.TB, open func(context.Context) (T, error)) T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v, err := open(ctx)
	SkipOrFail(tb, err)
	return v
}

// Package is an npm package to install.
type Package struct {
	// Name and Version are what is installed, e.g. kinesis-local 0.6.2.
	Name, Version string
	// Overrides pins versions of packages it depends on (npm's
	// "overrides"), e.g. where the registry lacks the one it asks for.
	Overrides map[string]string
	// DirEnv names the environment variable that, when set, is the
	// installation directory, e.g. VMX_KINESIS_LOCAL_DIR.
	DirEnv string
	// DirName is the installation directory's name beside the Go build
	// cache (in the user's cache directory without one), e.g.
	// vmx-kinesis-local.
	DirName string
	// Files are paths, relative to the package's directory, an
	// installation must hold, e.g. its main script.
	Files []string
	// Env (KEY=value) is added to npm's environment.
	Env []string
}

// Dir returns the installation directory, which holds node_modules.
func (p Package) Dir() (string, error) {
	if p.DirEnv != "" {
		if d := os.Getenv(p.DirEnv); d != "" {
			return d, nil
		}
	}
	cache := os.Getenv("GOCACHE")
	if cache == "" || cache == "off" {
		if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	if cache != "" && cache != "off" {
		return filepath.Join(filepath.Dir(cache), p.DirName), nil
	}
	user, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("npmtest: %s: no cache directory: %w", p.Name, err)
	}
	return filepath.Join(user, p.DirName), nil
}

// Install installs p into p.Dir() unless it is there, and returns the
// package's directory (Dir/node_modules/Name). It needs node, and npm when
// it installs.
func Install(ctx context.Context, p Package) (string, error) {
	if p.Name == "" || p.Version == "" || p.DirName == "" {
		return "", fmt.Errorf("npmtest: install %q@%q: name, version and directory name are needed", p.Name, p.Version)
	}
	spec := p.Name + "@" + p.Version
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("npmtest: install %s: %w: %v", spec, ErrUnavailable, err)
	}
	root, err := p.Dir()
	if err != nil {
		return "", err
	}
	pkg := filepath.Join(root, "node_modules", p.Name)
	if p.installed(pkg) {
		return pkg, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("npmtest: install %s: %w: %v", spec, ErrUnavailable, err)
	}
	m := map[string]any{
		"name":         p.DirName,
		"private":      true,
		"dependencies": map[string]string{p.Name: p.Version},
	}
	if len(p.Overrides) > 0 {
		m["overrides"] = p.Overrides
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", fmt.Errorf("npmtest: install %s: %w", spec, err)
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return "", fmt.Errorf("npmtest: install %s: %w", spec, err)
	}
	// Install beside the target and rename, so that concurrent test
	// binaries never see half an installation.
	tmp, err := os.MkdirTemp(filepath.Dir(root), "."+p.DirName+"-")
	if err != nil {
		return "", fmt.Errorf("npmtest: install %s: %w", spec, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), append(manifest, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("npmtest: install %s: %w", spec, err)
	}
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), p.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npmtest: npm install %s: %w\n%s", spec, err, out)
	}
	// The rename fails when root exists: installed by a concurrent Install
	// (keep it) or stale, e.g. another version (replace it).
	if err := os.Rename(tmp, root); err != nil && !p.installed(pkg) {
		if err := os.RemoveAll(root); err != nil {
			return "", fmt.Errorf("npmtest: install %s: %w", spec, err)
		}
		if err := os.Rename(tmp, root); err != nil && !p.installed(pkg) {
			return "", fmt.Errorf("npmtest: install %s: %w", spec, err)
		}
	}
	if !p.installed(pkg) {
		return "", fmt.Errorf("npmtest: %s missing from %s after npm install", spec, pkg)
	}
	return pkg, nil
}

// installed reports whether pkg holds p's version and files.
func (p Package) installed(pkg string) bool {
	b, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		return false
	}
	var m struct{ Version string }
	if json.Unmarshal(b, &m) != nil || m.Version != p.Version {
		return false
	}
	for _, f := range p.Files {
		if _, err := os.Stat(filepath.Join(pkg, f)); err != nil {
			return false
		}
	}
	return true
}
