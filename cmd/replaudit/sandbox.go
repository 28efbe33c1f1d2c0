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

	"github.com/replaudit/replaudit/internal/demo"
	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/sandbox"
)

var sandboxCommand = command{
	name:    "sandbox",
	summary: "run the local AWS stand-in until SIGINT or SIGTERM",
	examples: `  # start it and point a shell at it
  replaudit sandbox --env-file .sandbox.env &
  until [ -s .sandbox.env ]; do sleep 0.1; done; . ./.sandbox.env
  aws s3api list-buckets        # any SDK or CLI now talks to the sandbox

  # with the audit plane declared as a stack, so --stack works locally
  replaudit sandbox --env-file .sandbox.env --stack replaudit &
  until [ -s .sandbox.env ]; do sleep 0.1; done; . ./.sandbox.env
  replaudit list --stack replaudit

  # inject a fault through the control API
  curl -X POST "$REPLAUDIT_SANDBOX_URL/faults" -d '{"bucket":"dst","kind":"deny"}'
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		envFile := fs.String("env-file", "", "write the environment as export lines to `FILE` once ready")
		dynamo := fs.Bool("dynamodb", true, "start dynalite for DynamoDB (needs node; `make tools` installs it)")
		delay := fs.Duration("replication-delay", 200*time.Millisecond, "how long replication takes without a fault")
		threshold := fs.Duration("rtc-threshold", 15*time.Minute, "stands for Replication Time Control's 15 minutes")
		stack := fs.String("stack", "", "also start the audit plane (ledger table, alert topic, events queue, auditor) and declare it as stack `NAME`, for the CLI's --stack (needs --dynamodb)")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			if *stack != "" && !*dynamo {
				return fmt.Errorf("%w: --stack needs DynamoDB for its ledger: drop --dynamodb=false", errUsage)
			}
			log := slog.New(slog.NewJSONHandler(stderr, nil))
			sb, err := sandbox.Start(ctx, sandbox.Options{
				DynamoDB: *dynamo, ReplicationDelay: *delay, ReplicationThreshold: *threshold, Logger: log, Athena: sandboxAthena,
			})
			if err != nil {
				return err
			}
			defer sb.Close()
			if *stack != "" {
				p, err := plane.Start(ctx, sb, plane.Options{Log: log})
				if err != nil {
					return fmt.Errorf("start the audit plane: %w", err)
				}
				if err := p.Run(10); err != nil {
					return err
				}
				demo.DeclareStack(sb, *stack, p, nil)
			}
			lines, remove, err := writeEnv(sb, *envFile)
			if err != nil {
				return err
			}
			defer remove()
			fmt.Fprint(stdout, lines)
			log.Info("sandbox ready", "endpoint", sb.Endpoint(), "control", sb.ControlURL(), "stack", *stack)
			<-ctx.Done()
			log.Info("sandbox stopping")
			return nil
		}
	},
}

// writeEnv returns sb's environment as export lines, written to path
// unless it is empty, and what removes that file when the sandbox stops.
func writeEnv(sb *sandbox.Sandbox, path string) (lines string, remove func(), err error) {
	lines = envLines(sb)
	if path == "" {
		return lines, func() {}, nil
	}
	if err := writeFileAtomic(path, lines); err != nil {
		return "", nil, fmt.Errorf("write env file: %w", err)
	}
	return lines, func() { os.Remove(path) }, nil
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
