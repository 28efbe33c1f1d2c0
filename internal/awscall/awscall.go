package awscall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// TimeoutError is a call that ran out of its own time while the invocation
// still had time: the service hung. It may pass on its own.
type TimeoutError struct {
	Operation string
	Limit     time.Duration
	Err       error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s got no answer within %s: %v", e.Operation, e.Limit.Round(time.Millisecond), e.Err)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// ErrNoTimeLeft is returned, without calling, when the invocation has less
// time left than the reserve kept for answering.
var ErrNoTimeLeft = errors.New("no time left in the invocation for another call")

// Timeout returns an SDK API option that gives each call at most max, and
// never more than the context's remaining time less a reserve (reserve, or
// a quarter of the remaining time when that is less), so the caller keeps
// time to record what it knows and answer. The limit covers the
// SDK's retries. Operations that stream their response body (GetObject)
// are left alone: cancelling their context on return would cut the body.
func Timeout(max, reserve time.Duration) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Initialize.Add(callTimeout{max: max, reserve: reserve}, middleware.Before)
	}
}

type callTimeout struct{ max, reserve time.Duration }

func (callTimeout) ID() string { return "replauditCallTimeout" }

func (m callTimeout) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	op := middleware.GetOperationName(ctx)
	if op == "GetObject" {
		return next.HandleInitialize(ctx, in)
	}
	limit := m.max
	if d, ok := ctx.Deadline(); ok {
		remaining := time.Until(d)
		if left := remaining - min(m.reserve, remaining/4); left < limit {
			limit = left
		}
	}
	if limit <= 0 {
		return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("%s: %w", op, ErrNoTimeLeft)
	}
	callCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	out, md, err := next.HandleInitialize(callCtx, in)
	if err != nil && callCtx.Err() != nil && ctx.Err() == nil {
		err = &TimeoutError{Operation: op, Limit: limit, Err: err}
	}
	return out, md, err
}

var retryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// Transient reports whether an error may pass on its own, so the work is
// worth doing again later: the SDK would retry it (throttling, 5xx, a
// connection that failed), a call ran out of its own time, or the
// invocation ran out of time. An error the SDK would not retry is not
// transient, whether it carries an HTTP status (403, 400) or none at all
// (expired credentials, an endpoint that does not resolve).
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var te *TimeoutError
	if errors.As(err, &te) || errors.Is(err, ErrNoTimeLeft) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return retryables.IsErrorRetryable(err) == aws.TrueTernary
}

// Rejected reports whether a failed call certainly took no effect: the
// service refused it (a 4xx, or 503 Service Unavailable, which AWS answers
// before doing anything), or no connection was ever made. A call that got
// no answer (a timeout, a connection cut after the request went out) or a
// 500 may have taken effect.
func Rejected(err error) bool {
	if err == nil {
		return false
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		if s := re.HTTPStatusCode(); s >= 400 && s < 500 || s == http.StatusServiceUnavailable {
			return true
		}
		if re.HTTPStatusCode() > 0 {
			return false
		}
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Status returns the HTTP status of an answered error, or 0.
func Status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Code returns the service's error code, such as AccessDenied, or "".
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
