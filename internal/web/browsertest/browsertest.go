// Package browsertest drives headless Chromium from Go tests: Debian's
// chromium with npm's playwright-core, run by node. A test writes a Node
// script; Run runs it with a launch() helper that starts Chromium the way
// it works on the build machines.
//
// playwright-core is installed with npm on first use into a cache directory
// shared by all test runs: $VMX_PLAYWRIGHT_DIR, or vmx-playwright beside the
// Go build cache. Chromium is $VMX_CHROMIUM, or chromium on PATH.
package browsertest

import (
	"bytes"
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

// PlaywrightVersion is the playwright-core version installed and used.
const PlaywrightVersion = "1.65.1"

// ErrUnavailable is returned, wrapped, when chromium, node or npm is
// missing.
var ErrUnavailable = errors.New("browsertest: chromium, node and npm are needed for browser tests")

// Browser runs browser scripts.
type Browser struct {
	// Chromium is the browser binary.
	Chromium string
	// Modules is the node_modules directory holding playwright-core.
	Modules string
}

// Require returns a Browser for tb, installing playwright-core if needed.
// It skips the test when chromium, node or npm is missing, unless the
// environment variable CI is set, where it fails it.
func Require(tb testing.TB) *Browser {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := New(ctx)
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") == "" {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// New finds Chromium and installs playwright-core.
func New(ctx context.Context) (*Browser, error) {
	chromium, err := Chromium()
	if err != nil {
		return nil, err
	}
	modules, err := Install(ctx)
	if err != nil {
		return nil, err
	}
	return &Browser{Chromium: chromium, Modules: modules}, nil
}

// Chromium returns the path of the Chromium binary.
func Chromium() (string, error) {
	if p := os.Getenv("VMX_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: no chromium on PATH (apt-get install chromium)", ErrUnavailable)
}

// Dir returns the directory playwright-core is installed into.
func Dir() (string, error) {
	if d := os.Getenv("VMX_PLAYWRIGHT_DIR"); d != "" {
		return d, nil
	}
	cache := os.Getenv("GOCACHE")
	if cache == "" || cache == "off" {
		if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	if cache != "" && cache != "off" {
		return filepath.Join(filepath.Dir(cache), "vmx-playwright"), nil
	}
	user, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("browsertest: no cache directory: %w", err)
	}
	return filepath.Join(user, "vmx-playwright"), nil
}

// Install installs playwright-core into Dir unless it is there, and
// returns the node_modules directory holding it. It downloads no browser.
func Install(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	root, err := Dir()
	if err != nil {
		return "", err
	}
	modules := filepath.Join(root, "node_modules")
	if installed(modules) {
		return modules, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return "", fmt.Errorf("browsertest: install: %w", err)
	}
	// Install beside the target and rename, so that concurrent test
	// binaries never see half an installation.
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".vmx-playwright-")
	if err != nil {
		return "", fmt.Errorf("browsertest: install: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", tmp,
		"--no-audit", "--no-fund", "--no-save", "--loglevel=error", "playwright-core@"+PlaywrightVersion)
	// playwright-core downloads nothing at install; this keeps it so.
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("browsertest: npm install playwright-core@%s: %w\n%s", PlaywrightVersion, err, out)
	}
	if err := os.Rename(tmp, root); err != nil && !installed(modules) {
		if err := os.RemoveAll(root); err != nil {
			return "", fmt.Errorf("browsertest: install: %w", err)
		}
		if err := os.Rename(tmp, root); err != nil {
			return "", fmt.Errorf("browsertest: install: %w", err)
		}
	}
	if !installed(modules) {
		return "", fmt.Errorf("browsertest: playwright-core %s missing from %s after npm install", PlaywrightVersion, modules)
	}
	return modules, nil
}

func installed(modules string) bool {
	b, err := os.ReadFile(filepath.Join(modules, "playwright-core", "package.json"))
	if err != nil {
		return false
	}
	var p struct{ Version string }
	return json.Unmarshal(b, &p) == nil && p.Version == PlaywrightVersion
}

// prelude is put before every script: launch() starts Chromium headless
// with the flags that work without a display, GPU or network; expect()
// throws unless cond holds. A script that throws exits with status 1.
const prelude = `'use strict';
const { chromium } = require('playwright-core');
function launch(opts) {
  return chromium.launch(Object.assign({
    executablePath: process.env.VMX_CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync', '--mute-audio',
      '--autoplay-policy=no-user-gesture-required'],
  }, opts || {}));
}
function expect(cond, msg) { if (!cond) throw new Error('expectation failed: ' + msg); }
process.on('unhandledRejection', (e) => { console.error(e && e.stack || e); process.exit(1); });
`

// Run runs script with node, after the prelude, with env (KEY=value)
// added to the environment, and returns what it printed on stdout. An
// error carries its stderr. Run may be called from any goroutine.
func (b *Browser) Run(ctx context.Context, script string, env ...string) (string, error) {
	dir, err := os.MkdirTemp("", "vmx-browsertest-")
	if err != nil {
		return "", fmt.Errorf("browsertest: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "test.js")
	if err := os.WriteFile(file, []byte(prelude+script), 0o644); err != nil {
		return "", fmt.Errorf("browsertest: %w", err)
	}
	cmd := exec.CommandContext(ctx, "node", file)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"NODE_PATH=" + b.Modules, "VMX_CHROMIUM=" + b.Chromium}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("browsertest: node: %w\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}
