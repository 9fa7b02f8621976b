package npmtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Command is a node program for Start to run.
type Command struct {
	// Args are node's arguments: the script and its flags.
	Args []string
	// Dir is the working directory; empty is the test's.
	Dir string
	// Env (KEY=value) is added to the environment.
	Env []string
	// Ready returns nil once the program serves, e.g. answers a health
	// check. Start calls it until then, each call with a deadline of a
	// few seconds. It is required.
	Ready func(ctx context.Context) error
}

// Process is a node program running in the background, e.g. an emulator.
type Process struct {
	// Ports are the loopback ports it was given.
	Ports []int

	cmd    *exec.Cmd
	out    Buffer
	exited chan struct{}
	once   sync.Once
}

// attempts is how often Start tries: a free port may be taken by another
// program before the server binds it.
const attempts = 3

// Start picks ports free loopback ports, and runs with node the program
// that command returns for them, once it is ready. A program that exits
// or is not ready within a minute is stopped and tried again on other
// ports. The caller must Close the process.
func Start(ctx context.Context, ports int, command func(ports []int) Command) (*Process, error) {
	var lastErr error
	for range attempts {
		p, err := start(ctx, ports, command)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, n int, command func(ports []int) Command) (*Process, error) {
	ports, err := FreePorts(n)
	if err != nil {
		return nil, err
	}
	c := command(ports)
	name := "node " + strings.Join(c.Args, " ")
	p := &Process{Ports: ports, exited: make(chan struct{})}
	p.cmd = exec.Command("node", c.Args...)
	p.cmd.Dir = c.Dir
	p.cmd.Env = append(os.Environ(), c.Env...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("npmtest: start %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.wait(ctx, c.Ready); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("npmtest: start %s: %w", name, err)
	}
	return p, nil
}

// wait calls ready until it returns nil.
func (p *Process) wait(ctx context.Context, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// A probe ends when the process does: one talking to a port that
	// another program took might otherwise hang until its deadline.
	probes, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-p.exited:
			stop()
		case <-probes.Done():
		}
	}()
	for {
		rctx, rcancel := context.WithTimeout(probes, 5*time.Second)
		err := ready(rctx)
		rcancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited at start: %s\n%s", p.cmd.ProcessState, p.out.String())
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)\n%s", ctx.Err(), err, p.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops the process and waits until it has exited. It may be called
// more than once.
func (p *Process) Close() error {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	return nil
}

// Output returns what the process printed so far, stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("npmtest: free port: %w", err)
		}
		// Held until all are picked, so that they differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Buffer is a bytes.Buffer that may be written from many goroutines, e.g.
// a process's output or a log. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
