package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/wav"
)

const (
	benchExtractUsage = "[--minutes 1,5,25] [--runs 3] [--node DIR] [--dir DIR] [--in-place]"
	benchUsage        = "extract " + benchExtractUsage + " | asr --manifest FILE|--make-testset DIR [--baseline]"
)

func benchCommand() Command {
	return Command{
		Name:  "bench",
		Usage: benchUsage,
		Short: "measure whole-process speed and peak memory (extract: vmx against Voicemail Express's Node decoder)",
		Run:   runBench,
	}
}

func runBench(ctx context.Context, env *Env, args []string) (int, error) {
	switch {
	case len(args) > 0 && args[0] == "asr":
		return benchASR(ctx, env, args[1:])
	case len(args) == 0 || args[0] != "extract":
		return 2, usagef("want a benchmark name: extract or asr")
	}
	var minutes, nodeDir, dir string
	var runs int
	var inPlace bool
	fs := newFlagSet(env, "bench extract", benchExtractUsage)
	fs.StringVar(&minutes, "minutes", "1,5,25", "comma-separated call lengths in minutes")
	fs.IntVar(&runs, "runs", 3, "runs per measurement; the median time and the largest peak RSS are reported")
	fs.StringVar(&nodeDir, "node", "", "directory of the Node comparison (bench/vmx-node, after npm ci); empty skips it")
	fs.StringVar(&dir, "dir", "", "working directory for the generated calls, created if need be (default a temporary one, removed after)")
	fs.BoolVar(&inPlace, "in-place", false, "measure this binary where it is rather than an installed copy (a binary the linker has just written peaks 10-14 MB higher)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return 2, err
	}
	if len(pos) > 0 {
		return 2, usagef("unexpected argument %q", pos[0])
	}
	if runs < 1 {
		return 2, usagef("--runs %d must be at least 1", runs)
	}
	var lengths []float64
	for _, m := range strings.Split(minutes, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(m), 64)
		if err != nil || v <= 0 {
			return 2, usagef("--minutes %q: want positive numbers separated by commas", minutes)
		}
		lengths = append(lengths, v)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vmx-bench-"); err != nil {
			return 1, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return 1, err
	}
	self, err := os.Executable()
	if err != nil {
		return 1, err
	}
	if !inPlace {
		if self, err = installCopy(self, dir); err != nil {
			return 1, err
		}
	}

	fmt.Fprintf(env.Stdout, "| call | capture | vmx time | vmx MB/s | vmx peak RSS |")
	if nodeDir != "" {
		fmt.Fprintf(env.Stdout, " Node time | Node peak RSS | time ratio | RSS ratio | same PCM |")
	}
	fmt.Fprintln(env.Stdout)
	fmt.Fprintf(env.Stdout, "|---|---|---|---|---|")
	if nodeDir != "" {
		fmt.Fprintf(env.Stdout, "---|---|---|---|---|")
	}
	fmt.Fprintln(env.Stdout)

	for _, m := range lengths {
		spec := callSpec{seconds: m * 60, prompt: 4, seed: 1, layout: "ca", instanceID: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
			start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		if err := spec.validate(); err != nil {
			return 1, err
		}
		capture := filepath.Join(dir, fmt.Sprintf("call-%gmin.mkv", m))
		if err := writeFileAtomic(capture, func(w io.Writer) error { return synth.WriteCapture(w, spec.spec()) }); err != nil {
			return 1, err
		}
		st, err := os.Stat(capture)
		if err != nil {
			return 1, err
		}
		out := filepath.Join(dir, "vmx.wav")
		vmx, err := measure(ctx, runs, self, "extract", capture, "--contact-id", spec.contactID, "--track", "from", "-o", out)
		if err != nil {
			return 1, err
		}
		mb := float64(st.Size()) / 1e6
		fmt.Fprintf(env.Stdout, "| %g min | %.1f MB | %s | %.0f | %.1f MB |", m, mb, ms(vmx.wall), mb/vmx.wall.Seconds(), float64(vmx.maxRSS)/1e6)
		if nodeDir != "" {
			nodeOut := filepath.Join(dir, "node.wav")
			node, err := measure(ctx, runs, "node", filepath.Join(nodeDir, "extract.js"), capture, nodeOut, "--track-name", "AUDIO_FROM_CUSTOMER")
			if err != nil {
				return 1, fmt.Errorf("node comparison (run npm ci in %s first): %w", nodeDir, err)
			}
			same, err := samePCM(out, nodeOut)
			if err != nil {
				return 1, err
			}
			fmt.Fprintf(env.Stdout, " %s | %.1f MB | %.1fx | %.1fx | %v |", ms(node.wall), float64(node.maxRSS)/1e6,
				node.wall.Seconds()/vmx.wall.Seconds(), float64(node.maxRSS)/float64(vmx.maxRSS), same)
		}
		fmt.Fprintln(env.Stdout)
	}
	return 0, nil
}

type measurement struct {
	wall   time.Duration // median
	maxRSS int64         // bytes, largest of the runs
}

// measure runs a command runs times and reports its median wall time and
// the largest peak resident set size the kernel recorded for it.
func measure(ctx context.Context, runs int, name string, args ...string) (measurement, error) {
	var walls []time.Duration
	var m measurement
	for range runs {
		wall, maxRSS, err := runDetached(ctx, name, args...)
		if err != nil {
			return m, err
		}
		walls = append(walls, wall)
		m.maxRSS = max(m.maxRSS, maxRSS)
	}
	slices.Sort(walls)
	m.wall = walls[len(walls)/2]
	return m, nil
}

// installCopy copies the executable at path into dir, as installing it
// (a package, a container image, a Lambda zip) writes it, and returns the
// copy's path. A binary the Go linker has just written stays in the page
// cache as its memory-mapped writes left it, in huge folios that Linux maps
// whole, 2 MB at a time, when a process first touches them; measured so,
// vmx peaks 10-14 MB higher than the same binary copied or read from disk
// after the cache is dropped (docs/PERFORMANCE.md).
func installCopy(path, dir string) (string, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("copy the vmx binary: %w", err)
	}
	defer src.Close()
	dst := filepath.Join(dir, "vmx")
	if err := writeFileAtomic(dst, func(w io.Writer) error { _, err := io.Copy(w, src); return err }); err != nil {
		return "", fmt.Errorf("copy the vmx binary: %w", err)
	}
	if err := os.Chmod(dst, 0o755); err != nil {
		return "", fmt.Errorf("copy the vmx binary: %w", err)
	}
	return dst, nil
}

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER of linux/prctl.h.
const prSetChildSubreaper = 36

// runDetached runs a command and returns its wall time and peak RSS in
// bytes. A child this process started would report at least this process's
// own peak: Go starts children in its address space until they exec
// (CLONE_VM), and Linux folds that address space's peak into the child's
// ru_maxrss at exec. So a shell starts the command in the background and
// exits, and this process, a child subreaper, waits for it: forked from the
// shell, it carries at most the shell's few hundred kB. The wall time
// includes starting the shell, about a millisecond.
func runDetached(ctx context.Context, name string, args ...string) (time.Duration, int64, error) {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return 0, 0, fmt.Errorf("become a child subreaper: %w", errno)
	}
	stderr, err := os.CreateTemp("", "vmx-bench-stderr-")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	// exec: a shell that went on would reap a command that ended already.
	sh := exec.CommandContext(ctx, "/bin/sh", "-c", `"$@" >/dev/null & exec echo $!`, "sh", name)
	sh.Args = append(sh.Args, args...)
	sh.Stderr = stderr // the command's too
	start := time.Now()
	out, err := sh.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("start %s: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return 0, 0, fmt.Errorf("start %s: shell printed %q", name, out)
	}
	defer context.AfterFunc(ctx, func() { syscall.Kill(pid, syscall.SIGKILL) })()
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	for {
		_, err = syscall.Wait4(pid, &ws, 0, &ru)
		if err != syscall.EINTR {
			break
		}
	}
	wall := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("wait for %s: %w", name, err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		how := fmt.Sprintf("exit status %d", ws.ExitStatus())
		if ws.Signaled() {
			how = "killed by " + ws.Signal().String()
		}
		msg, _ := os.ReadFile(stderr.Name())
		return 0, 0, fmt.Errorf("%s: %s: %s", name, how, strings.TrimSpace(string(msg)))
	}
	return wall, ru.Maxrss * 1024, nil // Linux reports kilobytes
}

// samePCM compares the data chunks of two WAV files.
func samePCM(a, b string) (bool, error) {
	ha, err := pcmSHA256(a)
	if err != nil {
		return false, err
	}
	hb, err := pcmSHA256(b)
	return ha == hb, err
}

func pcmSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r, err := wav.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" }
