package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/replaudit/replaudit/internal/sandbox"
)

var sandboxCommand = command{
	name:    "sandbox",
	summary: "run the local AWS stand-in until SIGINT or SIGTERM",
	examples: `  # start it and point a shell at it
  replaudit sandbox --env-file .sandbox.env &
  until [ -s .sandbox.env ]; do sleep 0.1; done; . ./.sandbox.env
  aws s3api list-buckets        # any SDK or CLI now talks to the sandbox

  # inject a fault through the control API
  curl -X POST "$REPLAUDIT_SANDBOX_URL/faults" -d '{"bucket":"dst","kind":"deny"}'
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		envFile := fs.String("env-file", "", "write the environment as export lines to `FILE` once ready")
		dynamo := fs.Bool("dynamodb", true, "start dynalite for DynamoDB (needs node; `make tools` installs it)")
		delay := fs.Duration("replication-delay", 200*time.Millisecond, "how long replication takes without a fault")
		threshold := fs.Duration("rtc-threshold", 15*time.Minute, "stands for Replication Time Control's 15 minutes")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			log := slog.New(slog.NewJSONHandler(stderr, nil))
			sb, err := sandbox.Start(ctx, sandbox.Options{
				DynamoDB: *dynamo, ReplicationDelay: *delay, ReplicationThreshold: *threshold, Logger: log,
			})
			if err != nil {
				return err
			}
			defer sb.Close()
			lines := envLines(sb)
			if *envFile != "" {
				if err := writeFileAtomic(*envFile, lines); err != nil {
					return fmt.Errorf("write env file: %w", err)
				}
				defer os.Remove(*envFile)
			}
			fmt.Fprint(stdout, lines)
			log.Info("sandbox ready", "endpoint", sb.Endpoint(), "control", sb.ControlURL())
			<-ctx.Done()
			log.Info("sandbox stopping")
			return nil
		}
	},
}

func envLines(sb *sandbox.Sandbox) string {
	var b strings.Builder
	for _, kv := range sb.Env() {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], kv[1])
	}
	return b.String()
}

// writeFileAtomic writes through a temporary file and a rename, so a reader
// polling for the file never sees half of it.
func writeFileAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".env-*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
