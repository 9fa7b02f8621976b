package npmtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverJS answers every request with "pong" and the working directory,
// on the port given as its argument, after printing a greeting.
const serverJS = `
const http = require('http');
console.log('hello from ' + process.env.GREETING);
http.createServer((req, res) => res.end('pong ' + process.cwd())).listen(Number(process.argv[2]), '127.0.0.1');
`

// script writes a node script into a fresh directory and returns both.
func script(t *testing.T, js string) (dir, file string) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		SkipOrFail(t, fmt.Errorf("%w: %v", ErrUnavailable, err))
	}
	dir = t.TempDir()
	file = filepath.Join(dir, "server.js")
	if err := os.WriteFile(file, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

func get(ctx context.Context, port int) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(port)+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestStart(t *testing.T) {
	dir, _ := script(t, serverJS)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	calls := 0
	p, err := Start(ctx, 1, func(ports []int) Command {
		calls++
		return Command{
			Args:  []string{"server.js", strconv.Itoa(ports[0])},
			Dir:   dir,
			Env:   []string{"GREETING=npmtest"},
			Ready: func(ctx context.Context) error { _, err := get(ctx, ports[0]); return err },
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if calls != 1 || len(p.Ports) != 1 {
		t.Fatalf("%d calls, ports %v", calls, p.Ports)
	}
	got, err := get(ctx, p.Ports[0])
	if err != nil || got != "pong "+dir {
		t.Fatalf("GET: %q, %v", got, err)
	}
	if out := p.Output(); !strings.Contains(out, "hello from npmtest") {
		t.Fatalf("output %q", out)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := get(ctx, p.Ports[0]); err == nil {
		t.Fatal("closed process answers")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestStartPortTaken takes the first port picked, as another program may,
// so that the server cannot listen: Start tries again on another port.
func TestStartPortTaken(t *testing.T) {
	_, file := script(t, serverJS)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var taken []int
	p, err := Start(ctx, 1, func(ports []int) Command {
		if taken == nil {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(ports[0]))
			if err != nil {
				t.Error(err)
			} else {
				t.Cleanup(func() { l.Close() })
			}
		}
		taken = append(taken, ports[0])
		return Command{
			Args:  []string{file, strconv.Itoa(ports[0])},
			Ready: func(ctx context.Context) error { _, err := get(ctx, ports[0]); return err },
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if len(taken) != 2 || p.Ports[0] != taken[1] || taken[0] == taken[1] {
		t.Fatalf("ports tried %v, serving on %v", taken, p.Ports)
	}
	if got, err := get(ctx, p.Ports[0]); err != nil || !strings.HasPrefix(got, "pong") {
		t.Fatalf("GET: %q, %v", got, err)
	}
}

func TestStartExits(t *testing.T) {
	_, file := script(t, `console.error('boom'); process.exit(3);`)
	calls := 0
	_, err := Start(context.Background(), 2, func(ports []int) Command {
		calls++
		if len(ports) != 2 || ports[0] == ports[1] {
			t.Errorf("ports %v", ports)
		}
		return Command{Args: []string{file}, Ready: func(context.Context) error { return errors.New("not yet") }}
	})
	if err == nil || !strings.Contains(err.Error(), "exited at start") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("start of a program that exits: %v", err)
	}
	if calls != attempts {
		t.Fatalf("%d attempts, want %d", calls, attempts)
	}
}

func TestStartNotReady(t *testing.T) {
	_, file := script(t, serverJS)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	begin := time.Now()
	_, err := Start(ctx, 1, func(ports []int) Command {
		return Command{Args: []string{file, strconv.Itoa(ports[0])}, Ready: func(context.Context) error { return errors.New("still warming up") }}
	})
	if err == nil || !strings.Contains(err.Error(), "still warming up") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("start of a program never ready: %v", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, port := range ports {
		if port <= 0 || seen[port] {
			t.Fatalf("ports %v", ports)
		}
		seen[port] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("port %d not free: %v", port, err)
		}
		l.Close()
	}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "%d-%d\n", i, j)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	if len(seen) != 800 {
		t.Fatalf("%d distinct lines", len(seen))
	}
}
