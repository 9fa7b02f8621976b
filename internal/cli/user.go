package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/web"
)

const userUsage = "add [--config FILE] [flags] --role admin|agent [--queue ARN]... [--agent-id ID] [--agent-username NAME] [--replace] USERNAME"

func userCommand() Command {
	return Command{
		Name:  "user",
		Usage: userUsage,
		Short: "add a user of the web inbox (the password is read from stdin)",
		Run:   runUser,
	}
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func runUser(ctx context.Context, env *Env, args []string) (int, error) {
	if len(args) == 0 || args[0] != "add" {
		return 2, usagef("want add")
	}
	fs := newFlagSet(env, "user add", strings.TrimPrefix(userUsage, "add "))
	role := fs.String("role", "", "admin (sees and manages every voicemail) or agent (sees their own, their queues' and those assigned to them)")
	var queues listFlag
	fs.Var(&queues, "queue", "ARN of a queue whose voicemails the user sees (repeatable)")
	agentID := fs.String("agent-id", "", "the user's Amazon Connect user ID: voicemails routed to that agent are theirs")
	agentUsername := fs.String("agent-username", "", "the user's Amazon Connect username, likewise")
	password := fs.String("password", "", "the password (visible to other local users in the process list: prefer stdin)")
	cost := fs.Int("cost", web.DefaultPasswordCost, "bcrypt cost of the password hash (each step doubles the time to check it); keep inbox.password_cost equal")
	replace := fs.Bool("replace", false, "replace an existing user of that name: new password, role and queues, and their sessions end")
	// The database is all this needs of the configuration: users can be
	// added before the rest is set up.
	cfg, pos, err := loadConfig(env, fs, args[1:], false)
	if err != nil {
		return 2, err
	}
	if len(pos) != 1 {
		return 2, usagef("want one USERNAME")
	}
	pw := *password
	if pw == "" {
		if pw, err = readPassword(env); err != nil {
			return 1, err
		}
	}
	u, err := web.NewUser(web.UserSpec{Username: pos[0], Password: pw, Role: store.Role(*role),
		AgentID: *agentID, AgentUsername: *agentUsername, Queues: queues}, *cost, time.Now())
	if err != nil {
		return 1, err
	}
	st, err := store.Open(ctx, dbDSN(cfg), store.Options{})
	if err != nil {
		return 1, err
	}
	defer st.Close()
	err = st.CreateUser(ctx, u)
	verb := "added"
	if errors.Is(err, store.ErrExists) && *replace {
		err, verb = st.UpdateUser(ctx, u), "replaced"
	} else if errors.Is(err, store.ErrExists) {
		return 1, fmt.Errorf("user %s exists (add --replace to replace it)", u.Username)
	}
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(env.Stdout, "%s user %s (%s)\n", verb, u.Username, u.Role)
	return 0, nil
}

// readPassword prompts twice on a terminal, else reads stdin's first line.
func readPassword(env *Env) (string, error) {
	if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.Stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(env.Stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on stdin (pipe it in, or use --password)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
