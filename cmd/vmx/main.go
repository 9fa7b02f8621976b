// Command vmx is voicemail, call recording and live transcription for
// Amazon Connect. Run 'vmx help' for its commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmx-dev/vmx/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Args(os.Args, os.Getenv), cli.StdEnv())
	stop()
	os.Exit(code)
}
