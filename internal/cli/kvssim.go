package cli

import (
	"context"
	"fmt"

	"github.com/vmx-dev/vmx/internal/kvssim"
)

const kvsSimUsage = "[flags] --dir DIR"

func kvsSimCommand() Command {
	return Command{
		Name:  "kvs-sim",
		Usage: kvsSimUsage,
		Short: "serve a directory of .mkv captures and .wav calls as Kinesis Video Streams",
		Run:   runKVSSim,
	}
}

func runKVSSim(ctx context.Context, env *Env, args []string) (int, error) {
	var (
		listen, dir          string
		accessKey, secretKey string
		opts                 kvssim.Options
	)
	fs := newFlagSet(env, "kvs-sim", kvsSimUsage)
	fs.StringVar(&listen, "listen", "127.0.0.1:4568", "address to listen on")
	fs.StringVar(&dir, "dir", "", "directory of streams: NAME.mkv (GetMedia capture) and NAME.wav (+ optional NAME.json) become stream NAME")
	fs.Float64Var(&opts.Pace, "pace", 0, "0 serves archived streams; 1 paces them in real time, N at N times real time")
	fs.Int64Var(&opts.SessionLimitBytes, "session-limit-bytes", 0, "cut every GetMedia response after this many bytes (simulates the session limit)")
	fs.BoolVar(&opts.FragmentNumberInclusive, "fragment-number-inclusive", false, "GetMedia FRAGMENT_NUMBER starts at the fragment instead of after it")
	fs.StringVar(&accessKey, "access-key", "", "verify SigV4 signatures made with this access key (with --secret-key)")
	fs.StringVar(&secretKey, "secret-key", "", "secret key for --access-key")
	fs.StringVar(&opts.Region, "region", "us-east-1", "region of stream ARNs and signatures")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2, err
	}
	switch {
	case len(pos) > 0:
		return 2, usagef("unexpected argument %q", pos[0])
	case dir == "":
		return 2, usagef("--dir is required")
	case (accessKey == "") != (secretKey == ""):
		return 2, usagef("--access-key and --secret-key go together")
	case opts.Pace < 0:
		return 2, usagef("--pace %g must not be negative", opts.Pace)
	}
	if accessKey != "" {
		opts.Credentials = &kvssim.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}
	}
	opts.Logger = env.Logger.With("component", "kvs-sim")
	srv := kvssim.New(opts)
	if err := srv.LoadDir(dir); err != nil {
		return 1, err
	}
	url, stop, err := srv.Start(ctx, listen)
	if err != nil {
		return 1, err
	}
	defer stop()
	fmt.Fprintf(env.Stdout, "kvs-sim listening on %s\n", url)
	for _, name := range srv.Streams() {
		arn, _ := srv.StreamARN(name)
		fmt.Fprintf(env.Stdout, "stream %s %s\n", name, arn)
	}
	<-ctx.Done()
	return 0, nil
}
