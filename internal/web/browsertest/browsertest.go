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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vmx-dev/vmx/internal/npmtest"
)

// PlaywrightVersion is the playwright-core version installed and used.
const PlaywrightVersion = "1.65.1"

// ErrUnavailable is returned, wrapped, when chromium, node or npm is
// missing.
var ErrUnavailable = npmtest.ErrUnavailable

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
	return npmtest.Require(tb, New)
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
	return "", fmt.Errorf("browsertest: no chromium on PATH (apt-get install chromium): %w", ErrUnavailable)
}

// npmPackage is playwright-core as npmtest installs it.
func npmPackage() npmtest.Package {
	return npmtest.Package{
		Name:    "playwright-core",
		Version: PlaywrightVersion,
		DirEnv:  "VMX_PLAYWRIGHT_DIR",
		DirName: "vmx-playwright",
		// playwright-core downloads nothing at install; this keeps it so.
		Env: []string{"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1"},
	}
}

// Dir returns the directory playwright-core is installed into.
func Dir() (string, error) { return npmPackage().Dir() }

// Install installs playwright-core into Dir unless it is there, and
// returns the node_modules directory holding it. It downloads no browser.
func Install(ctx context.Context) (string, error) {
	pkg, err := npmtest.Install(ctx, npmPackage())
	if err != nil {
		return "", fmt.Errorf("browsertest: %w", err)
	}
	return filepath.Dir(pkg), nil
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
