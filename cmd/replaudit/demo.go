package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/replaudit/replaudit/internal/demo"
	"github.com/replaudit/replaudit/internal/sandbox"
)

var demoCommand = command{
	name:    "demo",
	summary: "show replication working, and failing, on the local sandbox",
	examples: `  replaudit demo        # the whole job, in about fifteen seconds
  make demo             # the same, installing dynalite first

  # keep the sandbox and its stack, and query it from another shell
  replaudit demo --keep
  . ./.sandbox.env && replaudit list --stack replaudit-demo
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		keep := fs.Bool("keep", false, "leave the sandbox running at the end, with the stack "+demo.StackName+" declared, until SIGINT or SIGTERM")
		envFile := fs.String("env-file", ".sandbox.env", "with --keep, write the environment as export lines to `FILE`")
		return func(ctx context.Context, stdout, _ io.Writer) error {
			o := demo.Options{Status: writeStatus}
			if *keep {
				o.Keep = func(ctx context.Context, sb *sandbox.Sandbox) error {
					return keepDemo(ctx, sb, *envFile, stdout)
				}
			}
			return demo.Run(ctx, stdout, o)
		}
	},
}

// runDemo tells the story and stops the sandbox.
func runDemo(ctx context.Context, out io.Writer) error {
	return demo.Run(ctx, out, demo.Options{Status: writeStatus})
}

// keepDemo serves the demo's sandbox as `replaudit sandbox` does, having
// said how to point a shell at it.
func keepDemo(ctx context.Context, sb *sandbox.Sandbox, envFile string, stdout io.Writer) error {
	_, remove, err := writeEnv(sb, envFile)
	if err != nil {
		return err
	}
	defer remove()
	fmt.Fprintf(stdout, "\n. %s  # then: replaudit list --stack %s\n", sourceable(envFile), demo.StackName)
	<-ctx.Done()
	return nil
}

// sourceable is path as the shell's `.` finds it: a bare name would be
// looked up on PATH.
func sourceable(path string) string {
	if filepath.IsAbs(path) || strings.HasPrefix(path, "./") || strings.HasPrefix(path, "../") {
		return path
	}
	return "./" + path
}
