package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/replaudit/replaudit/internal/query"
	"github.com/replaudit/replaudit/internal/safetext"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // a query ran and found FAILED items
	exitUsage = 2 // the command line or the input was wrong
	exitError = 3 // the command could not finish
)

const usage = `replaudit: S3 cross-region replication, set up as code and audited.

Usage:
  replaudit <command> [flags]

Commands:
  status     everything the ledger knows about one object
  list       ledger items by verdict, bucket and period
  export     a whole period of evidence, as CSV or JSON lines
  report     the compliance summary of a period, as text or HTML
  reconcile  account for every version an S3 Inventory lists; re-drive what never replicated
  sandbox    run the local AWS stand-in (S3, SNS, DynamoDB, queues) until stopped
  demo       the whole job on the local sandbox

Exit codes: 0 success, 1 a query found FAILED items or a reconciliation
found versions to replicate, 2 bad input (flags, times, verdicts, a missing
table, no credentials), 3 the command could not finish (AWS answered an
error, the sandbox could not start).

Run 'replaudit <command> --help' for a command's flags and examples.
`

// command is one subcommand: its flags, its help text and what it does.
type command struct {
	name     string
	summary  string
	examples string
	// args: the command takes positional arguments (after its flags).
	args  bool
	flags func(*flag.FlagSet) func(ctx context.Context, stdout, stderr io.Writer) error
}

var commands = []command{statusCommand, listCommand, exportCommand, reportCommand, reconcileCommand, sandboxCommand, demoCommand}

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
		fs.SetOutput(io.Discard) // errors are reported below, in one line
		action := c.flags(fs)
		fs.Usage = func() {}
		help := func(w io.Writer) {
			fs.SetOutput(w)
			fmt.Fprintf(w, "replaudit %s: %s\n\nFlags:\n", c.name, c.summary)
			fs.PrintDefaults()
			fmt.Fprintf(w, "\nExamples:\n%s", c.examples)
		}
		parseErr := func(err error) int {
			if errors.Is(err, flag.ErrHelp) {
				help(stdout)
				return exitOK
			}
			fmt.Fprintf(stderr, "replaudit %s: %s (see replaudit %s --help)\n", c.name, safetext.Line(err.Error()), c.name)
			return exitUsage
		}
		if err := fs.Parse(args[1:]); err != nil {
			return parseErr(err)
		}
		if c.args {
			// Flags may follow the arguments: status s3://b/k --format json.
			var positional []string
			for fs.NArg() > 0 {
				positional = append(positional, fs.Arg(0))
				if err := fs.Parse(fs.Args()[1:]); err != nil {
					return parseErr(err)
				}
			}
			_ = fs.Parse(positional) // leaves them as fs.Args()
		}
		if fs.NArg() > 0 && !c.args {
			fmt.Fprintf(stderr, "replaudit %s: unexpected argument %q\n", c.name, fs.Arg(0))
			return exitUsage
		}
		if err := runAction(ctx, action, stdout, stderr); err != nil {
			if errors.Is(err, errFoundFailed) || errors.Is(err, errNeedsReplication) {
				return exitFail
			}
			// An error may carry a key from the ledger or text from AWS: it
			// is shown escaped, and stays one line.
			fmt.Fprintf(stderr, "replaudit %s: %s\n", c.name, safetext.Line(strings.ReplaceAll(err.Error(), "usage: ", "")))
			if errors.Is(err, errUsage) || errors.Is(err, query.ErrUsage) {
				return exitUsage
			}
			return exitError
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "replaudit: unknown command %q (commands: %s)\n", args[0], names())
	return exitUsage
}

// terminal is stdout when it is a terminal. Whatever a command writes there,
// in whatever format, reaches the terminal as safetext.Line shows each line:
// a key holding ESC could otherwise clear the screen or forge a line. A pipe
// or a file gets every byte as written, keys exact.
type terminal struct{ *safetext.Writer }

// runAction runs a command's action with stdout made safe when it is a
// terminal. Help and errors are written elsewhere, and are already.
func runAction(ctx context.Context, action func(context.Context, io.Writer, io.Writer) error, stdout, stderr io.Writer) error {
	if !isTerminal(stdout) {
		return action(ctx, stdout, stderr)
	}
	out := terminal{safetext.NewWriter(stdout)}
	err := action(ctx, out, stderr)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return err
}

func names() string {
	var out []string
	for _, c := range commands {
		out = append(out, c.name)
	}
	return strings.Join(out, ", ")
}
