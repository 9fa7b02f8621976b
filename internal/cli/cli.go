// Package cli is vmx's command line: a table of subcommands, each a function
// that returns an exit code and an error. Only main exits.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// Env is what a command may touch of the process: its streams and
// environment. Tests pass their own.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// StderrIsTerminal enables progress bars.
	StderrIsTerminal bool
	Logger           *slog.Logger
}

// Command is one subcommand.
type Command struct {
	Name  string
	Usage string // arguments after the name
	Short string
	Run   func(ctx context.Context, env *Env, args []string) (exit int, err error)
}

// usageError makes Main print the command's usage and exit with 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func commands() []Command {
	return []Command{
		extractCommand(),
		kvsSimCommand(),
		synthCommand(),
		benchCommand(),
		serveCommand(),
		configCommand(),
		ctrCommand(),
		voicemailCommand(),
		transcribeCommand(),
		doctorCommand(),
		userCommand(),
		demoCommand(),
		lambdaCommand(),
		{Name: "version", Short: "print the version", Run: runVersion},
	}
}

// Main runs the command named by args[0] and returns the process exit code.
func Main(ctx context.Context, args []string, env *Env) int {
	if env.Logger == nil {
		env.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(env.Stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range cmds {
		if c.Name != args[0] {
			continue
		}
		code, err := c.Run(ctx, env, args[1:])
		var ue usageError
		switch {
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(env.Stderr, "vmx %s: %v\nusage: vmx %s %s\n", c.Name, err, c.Name, c.Usage)
			return 2
		case err != nil:
			fmt.Fprintf(env.Stderr, "vmx %s: %s\n", c.Name, oneLine(err))
			if code == 0 {
				code = 1
			}
		}
		return code
	}
	fmt.Fprintf(env.Stderr, "vmx: unknown command %q (run 'vmx help')\n", args[0])
	return 2
}

// oneLine keeps an error to the single line the exit contract promises.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func printHelp(w io.Writer, cmds []Command) {
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	fmt.Fprintln(w, "vmx: voicemail, call recording and transcription for Amazon Connect")
	fmt.Fprintln(w, "\nusage: vmx COMMAND [flags] [args]\n\ncommands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Short)
	}
	fmt.Fprintln(w, "\nRun 'vmx COMMAND -h' for a command's flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(env *Env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: vmx %s %s\n\nflags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// Version is the module version stamped by the Go toolchain, or "devel".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func runVersion(_ context.Context, env *Env, args []string) (int, error) {
	if len(args) > 0 {
		return 2, usagef("takes no arguments")
	}
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = " " + s.Value
			}
		}
		fmt.Fprintf(env.Stdout, "vmx %s%s %s\n", Version(), rev, bi.GoVersion)
	}
	return 0, nil
}

// StdEnv returns the process's own environment.
func StdEnv() *Env {
	return &Env{
		Stdin:            os.Stdin,
		Stdout:           os.Stdout,
		Stderr:           os.Stderr,
		Getenv:           os.Getenv,
		StderrIsTerminal: isTerminal(os.Stderr),
	}
}
