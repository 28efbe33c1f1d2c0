package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/replaudit/replaudit/internal/safetext"
)

const usage = `replaudit: S3 cross-region replication, set up as code and audited.

Usage:
  replaudit [--debug] <command> [flags]
  replaudit help <command>
  replaudit --version

Commands:
  status      everything the ledger knows about one object
  list        ledger items by verdict, bucket and period
  export      a whole period of evidence, as CSV or JSON lines
  report      the compliance summary of a period, as text, JSON or HTML
  rollup      rebuild the ledger's rollups from its items, or check them
  reconcile   account for every version an S3 Inventory lists; re-drive what never replicated
  verify      check a destination against its source from both buckets' S3 Inventories
  sandbox     run the local AWS stand-in (S3, SNS, DynamoDB, queues) until stopped
  demo        the whole job on the local sandbox
  completion  print a bash, zsh or fish completion script

Global flags:
  --debug     log the AWS SDK's requests and retries to stderr
  --version   print the version and exit

Exit codes: 0 success, 1 a query found FAILED items or a reconciliation
found versions to replicate, 2 bad input (flags, times, verdicts, a missing
table, no credentials), 3 the command could not finish (AWS answered an
error, the sandbox could not start), 130 interrupted (SIGINT or SIGTERM).

Run 'replaudit help <command>' for a command's flags and examples.
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

var commands = []command{statusCommand, listCommand, exportCommand, reportCommand, rollupCommand, reconcileCommand, verifyCommand, sandboxCommand, demoCommand}

// flagSet is a command's flags as run parses them: its own, and --debug
// for those that call AWS (they are the ones with --region).
func (c command) flagSet(debug *bool) (*flag.FlagSet, func(context.Context, io.Writer, io.Writer) error) {
	fs := flag.NewFlagSet("replaudit "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, in one line
	fs.Usage = func() {}
	action := c.flags(fs)
	if fs.Lookup("region") != nil {
		fs.BoolVar(debug, "debug", *debug, "log the AWS SDK's requests and retries to stderr")
	}
	return fs, action
}

func (c command) help(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "replaudit %s: %s\n", c.name, c.summary)
	if hasFlags(fs) {
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(w, fs)
	}
	fmt.Fprintf(w, "\nExamples:\n%s", c.examples)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sdkDebug := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch strings.TrimLeft(args[0], "-") {
		case "h", "help":
			fmt.Fprint(stdout, usage)
			return exitOK
		case "version":
			fmt.Fprintf(stdout, "replaudit %s\n", buildVersion())
			return exitOK
		case "debug":
			sdkDebug = true
		default:
			fmt.Fprintf(stderr, "replaudit: unknown flag %s (see replaudit --help)\n", safetext.Line(args[0]))
			return exitUsage
		}
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return exitUsage
	}
	switch args[0] {
	case "help":
		if len(args) == 1 {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		if len(args) > 2 || lookup(args[1]) == nil {
			fmt.Fprintf(stderr, "replaudit help: want one command (commands: %s)\n", names())
			return exitUsage
		}
		return run(ctx, []string{args[1], "--help"}, stdout, stderr)
	case "completion":
		return runCompletion(args[1:], stdout, stderr)
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "replaudit: unknown command %q (commands: %s)\n", args[0], names())
		return exitUsage
	}
	fs, action := c.flagSet(&sdkDebug)
	parseErr := func(err error) int {
		if errors.Is(err, flag.ErrHelp) {
			c.help(stdout, fs)
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
	if sdkDebug {
		ctx = withSDKLog(ctx, stderr)
	}
	err := runAction(ctx, action, stdout, stderr)
	code := exitCode(ctx, err)
	switch code {
	case exitOK, exitFail:
		// exit 1 is a finding the output has already shown.
	case exitInterrupted:
		fmt.Fprintf(stderr, "replaudit %s: interrupted\n", c.name)
	default:
		// An error may carry a key from the ledger or text from AWS: it
		// is shown escaped, and stays one line.
		fmt.Fprintf(stderr, "replaudit %s: %s\n", c.name, safetext.Line(message(err)))
	}
	return code
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
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
