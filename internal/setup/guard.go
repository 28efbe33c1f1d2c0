package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/cfn"
)

// maxResponse is the largest response body CloudFormation accepts.
const maxResponse = 4096

// Guard wraps a custom resource function for cfn.LambdaWrap so that
// CloudFormation gets exactly one answer, in time:
//   - a panic becomes a FAILED answer (LambdaWrap alone answers, then lets
//     the panic fail the invocation, which Lambda retries: a second answer);
//   - a function still running margin before the Lambda deadline is
//     abandoned with a FAILED answer;
//   - the Reason is cut to fit the 4096-byte response, and Data too large
//     to send becomes a FAILED answer that says so.
func Guard(fn cfn.CustomResourceFunction, margin time.Duration, log *slog.Logger) cfn.CustomResourceFunction {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
		type result struct {
			id   string
			data map[string]any
			err  error
		}
		runCtx, cancel := context.WithCancel(ctx)
		if deadline, ok := ctx.Deadline(); ok {
			runCtx, cancel = context.WithDeadline(ctx, deadline.Add(-margin))
		}
		defer cancel()
		done := make(chan result, 1)
		go func() {
			defer func() {
				if p := recover(); p != nil {
					log.Error("custom resource handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					done <- result{err: fmt.Errorf("internal error (a panic: %v); see the function's log", p)}
				}
			}()
			id, data, err := fn(runCtx, ev)
			done <- result{id, data, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-runCtx.Done():
			// Its context is cancelled: give a call already in flight half the
			// margin to land, so nothing is written after the answer.
			select {
			case r = <-done:
			case <-time.After(margin / 2):
				log.Error("custom resource handler abandoned at the deadline", "margin", margin)
				r.err = errors.New("the handler did not finish before the Lambda deadline; see the function's log")
			}
		}
		if r.id == "" {
			r.id = ev.PhysicalResourceID
		}
		if r.err != nil {
			return r.id, nil, fitError(ev, r.id, r.err)
		}
		if size := responseSize(ev, r.id, "", r.data); size > maxResponse {
			return r.id, nil, fitError(ev, r.id, fmt.Errorf("the response Data would be %d bytes, over CloudFormation's %d", size, maxResponse))
		}
		return r.id, r.data, nil
	}
}

func responseSize(ev cfn.Event, id, reason string, data map[string]any) int {
	r := cfn.NewResponse(&ev)
	r.Status = cfn.StatusFailed
	r.PhysicalResourceID = id
	if id == "" {
		r.PhysicalResourceID = ev.RequestID
	}
	r.Reason = reason
	r.Data = data
	b, _ := json.Marshal(r)
	return len(b)
}

// fitError cuts an error's text so that the FAILED response fits.
func fitError(ev cfn.Event, id string, err error) error {
	msg := err.Error()
	if responseSize(ev, id, msg, nil) <= maxResponse {
		return err
	}
	const tail = " [cut: see the function's log]"
	budget := maxResponse - responseSize(ev, id, tail, nil)
	// JSON escaping can grow a string; shorten until it fits.
	cut := msg
	for len(cut) > 0 && responseSize(ev, id, cut+tail, nil) > maxResponse {
		if len(cut) > budget {
			cut = cut[:budget]
		} else {
			cut = cut[:len(cut)*3/4]
		}
	}
	return fmt.Errorf("%s%s", validUTF8Prefix(cut), tail)
}

// validUTF8Prefix drops a rune cut in half at the end.
func validUTF8Prefix(s string) string {
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
