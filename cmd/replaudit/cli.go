package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const usage = `replaudit: S3 cross-region replication, set up as code and audited.

Usage:
  replaudit <command> [flags]

Commands:
  sandbox   run the local AWS stand-in (S3, SNS, DynamoDB, queues) until stopped
  demo      show replication working, and failing, on the local sandbox

Run 'replaudit <command> --help' for a command's flags and examples.
`

// command is one subcommand: its flags, its help text and what it does.
type command struct {
	name     string
	summary  string
	examples string
	flags    func(*flag.FlagSet) func(ctx context.Context, stdout, stderr io.Writer) error
}

var commands = []command{sandboxCommand, demoCommand}

// errUsage marks an error in the command line, answered with exit code 2.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("replaudit "+c.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		action := c.flags(fs)
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "replaudit %s: %s\n\nFlags:\n", c.name, c.summary)
			fs.PrintDefaults()
			fmt.Fprintf(fs.Output(), "\nExamples:\n%s", c.examples)
		}
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fs.Usage()
				return exitOK
			}
			return exitUsage
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "replaudit %s: unexpected argument %q\n", c.name, fs.Arg(0))
			return exitUsage
		}
		if err := action(ctx, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "replaudit %s: %v\n", c.name, err)
			if errors.Is(err, errUsage) {
				return exitUsage
			}
			return exitFail
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "replaudit: unknown command %q (commands: %s)\n", args[0], names())
	return exitUsage
}

func names() string {
	var out []string
	for _, c := range commands {
		out = append(out, c.name)
	}
	return strings.Join(out, ", ")
}
