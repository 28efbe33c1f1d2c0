package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/replaudit/replaudit/internal/query"
)

// Exit codes.
const (
	exitOK           = 0
	exitFail         = 1   // a query ran and found FAILED items
	exitUsage        = 2   // the command line or the input was wrong
	exitCannotFinish = 3   // the command could not finish
	exitInterrupted  = 130 // stopped by SIGINT or SIGTERM, as a shell reports 128+SIGINT
)

// exitError is an error that carries the exit code it ends the command with.
// exitCode reads it with errors.As, however deep it is wrapped.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Is lets errors.Is(err, errUsage) hold for every usage error, so code that
// still wraps the sentinel and code that calls usageErrorf agree.
func (e *exitError) Is(target error) bool { return target == errUsage && e.code == exitUsage }

// The sentinels, each with its code. errFoundFailed and errNeedsReplication
// are not printed: the command's output already says what it found.
var (
	// errUsage marks an error in the command line. New code calls
	// usageErrorf; query.go still wraps errUsage with "%w: ".
	errUsage = &exitError{code: exitUsage, err: errors.New("usage")}
	// errFoundFailed ends a query that ran and found FAILED items, so
	// scripts can gate on it.
	errFoundFailed = &exitError{code: exitFail, err: errors.New("found FAILED items")}
	// errNeedsReplication ends a reconciliation that found versions to
	// replicate, or could not read the whole inventory.
	errNeedsReplication = &exitError{code: exitFail, err: errors.New("needs replication")}
)

// usageErrorf is an error in the command line or the input: exit 2.
func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// exitCode is the one place an error becomes an exit code.
func exitCode(ctx context.Context, err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		// main's context ends only on SIGINT or SIGTERM: whatever the
		// command returned then is the interruption, not its own failure.
		return exitInterrupted
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, query.ErrUsage):
		return exitUsage
	}
	return exitCannotFinish
}

// message is the text of an error as the command prints it. An error made
// by wrapping a sentinel ("%w: detail", as query.go and internal/query still
// do) reads without the sentinel's own word: the wrapping link is found in
// the chain, so only that link's known prefix is dropped, never text from a
// key or from AWS that happens to look like it.
func message(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{errUsage, query.ErrUsage} {
		for e := err; e != nil; e = errors.Unwrap(e) {
			if errors.Unwrap(e) != sentinel {
				continue
			}
			link := e.Error()
			detail, ok := strings.CutPrefix(link, sentinel.Error()+": ")
			outer, ok2 := strings.CutSuffix(msg, link)
			if ok && ok2 {
				msg = outer + detail
			}
			break
		}
	}
	return msg
}
