package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/server"
)

func configCommand() Command {
	return Command{
		Name:  "config",
		Usage: "check [--config FILE] [flags] | reference | example",
		Short: "check the configuration and explain every problem; print the reference or an example file",
		Run:   runConfig,
	}
}

func runConfig(_ context.Context, env *Env, args []string) (int, error) {
	if len(args) == 0 {
		return 2, usagef("want check, reference or example")
	}
	switch args[0] {
	case "reference":
		return 0, config.Reference(env.Stdout)
	case "example":
		return 0, config.Example(env.Stdout)
	case "check":
	default:
		return 2, usagef("unknown subcommand %q", args[0])
	}
	fs := newFlagSet(env, "config check", "[--config FILE] [flags]")
	cfg, pos, err := loadConfig(env, fs, args[1:], false)
	if err != nil {
		return 2, err
	}
	if len(pos) > 0 {
		return 2, usagef("unexpected argument %q", pos[0])
	}
	if err := cfg.Describe(env.Stdout); err != nil {
		return 1, err
	}
	problems := cfg.Problems()
	if len(problems) == 0 {
		fmt.Fprintln(env.Stdout, "\nconfiguration OK")
		return 0, nil
	}
	fmt.Fprintln(env.Stdout)
	for _, p := range problems {
		fmt.Fprintln(env.Stdout, p.Error())
	}
	if n := len(problems.Errors()); n > 0 {
		return 1, fmt.Errorf("%d problems", n)
	}
	return 0, nil
}

func ctrCommand() Command {
	return Command{
		Name:  "ctr",
		Usage: "replay [--config FILE] [flags] FILE...",
		Short: "feed contact records from files (raw, Kinesis events, NDJSON) into the pipeline",
		Run:   runCTR,
	}
}

func runCTR(ctx context.Context, env *Env, args []string) (int, error) {
	if len(args) == 0 || args[0] != "replay" {
		return 2, usagef("want replay")
	}
	fs := newFlagSet(env, "ctr replay", "[--config FILE] [flags] FILE...")
	cfg, files, err := loadConfig(env, fs, args[1:], true)
	if err != nil {
		return 1, err
	}
	if len(files) == 0 {
		return 2, usagef("want at least one FILE ('-' for stdin)")
	}
	a, err := openApp(ctx, env, cfg, false)
	if err != nil {
		return 1, err
	}
	defer a.close()
	total := &server.IntakeSummary{}
	for _, name := range files {
		sum, err := replayFile(ctx, env, a, name)
		if sum != nil {
			total.Records += sum.Records
			total.Accepted += sum.Accepted
			total.Duplicates += sum.Duplicates
			total.Ignored += sum.Ignored
			total.Invalid += sum.Invalid
			total.Errors += sum.Errors
			for _, r := range sum.Results {
				if r.Outcome == "invalid" || r.Outcome == "error" {
					fmt.Fprintf(env.Stderr, "%s: %s: %s %s: %s\n", name, r.Position, r.Outcome, r.ContactID, r.Reason)
				}
			}
		}
		if err != nil {
			return 1, fmt.Errorf("%s: %w", name, err)
		}
	}
	fmt.Fprintf(env.Stdout, "%d records: %d accepted, %d duplicates, %d ignored, %d invalid, %d unreadable\n",
		total.Records, total.Accepted, total.Duplicates, total.Ignored, total.Invalid, total.Errors)
	return 0, nil
}

func replayFile(ctx context.Context, env *Env, a *app, name string) (*server.IntakeSummary, error) {
	var r io.Reader = env.Stdin
	size := int64(-1)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
	}
	r, finish := progressReader(env, r, size, name, 0)
	defer finish()
	return server.Intake(ctx, a.pipeline, a.intake, r)
}

func voicemailCommand() Command {
	return Command{
		Name:  "voicemail",
		Usage: "show|retry [--config FILE] [flags] CONTACT_ID",
		Short: "show a voicemail, or replay a failed one",
		Run:   runVoicemail,
	}
}

func runVoicemail(ctx context.Context, env *Env, args []string) (int, error) {
	if len(args) == 0 || (args[0] != "show" && args[0] != "retry") {
		return 2, usagef("want show or retry")
	}
	fs := newFlagSet(env, "voicemail "+args[0], "[--config FILE] [flags] CONTACT_ID")
	cfg, pos, err := loadConfig(env, fs, args[1:], true)
	if err != nil {
		return 1, err
	}
	if len(pos) != 1 {
		return 2, usagef("want one CONTACT_ID")
	}
	a, err := openApp(ctx, env, cfg, false)
	if err != nil {
		return 1, err
	}
	defer a.close()
	var v any
	if args[0] == "retry" {
		v, err = a.pipeline.Retry(ctx, pos[0])
	} else {
		v, err = a.store.Get(ctx, pos[0])
	}
	if err != nil {
		return 1, err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return 0, enc.Encode(v)
}
