package awscall_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/replaudit/replaudit/internal/awscall"
)

// publish calls SNS through the real SDK against a server that answers as
// told, without the SDK's retries, and returns the SDK's error.
func publish(t *testing.T, handler http.HandlerFunc, timeout time.Duration, optFns ...func(*sns.Options)) error {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return publishTo(t, srv.URL, timeout, optFns...)
}

func publishTo(t *testing.T, url string, timeout time.Duration, optFns ...func(*sns.Options)) error {
	t.Helper()
	c := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}, optFns...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:1:t"), Message: aws.String("m")})
	return err
}

// hang answers nothing until the client gives up. The body is read first:
// Go's server notices a client gone only after that.
func hang(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

func answer(status int, code string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>`, code)
	}
}

func TestTheSDKsClassificationDecides(t *testing.T) {
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "http://" + refused.Addr().String()
	refused.Close()
	cases := []struct {
		name                string
		err                 func(t *testing.T) error
		transient, rejected bool
		code                string
	}{
		{"403 AccessDenied", func(t *testing.T) error { return publish(t, answer(403, "AuthorizationError"), time.Second) }, false, true, "AuthorizationError"},
		{"400 InvalidParameter", func(t *testing.T) error { return publish(t, answer(400, "InvalidParameter"), time.Second) }, false, true, "InvalidParameter"},
		{"400 Throttling", func(t *testing.T) error { return publish(t, answer(400, "Throttling"), time.Second) }, true, true, "Throttling"},
		{"503", func(t *testing.T) error { return publish(t, answer(503, "ServiceUnavailable"), time.Second) }, true, true, "ServiceUnavailable"},
		{"500: it may have been taken", func(t *testing.T) error { return publish(t, answer(500, "InternalError"), time.Second) }, true, false, "InternalError"},
		{"no connection", func(t *testing.T) error { return publishTo(t, closedURL, time.Second) }, true, true, ""},
		{"a hung service, under a call timeout", func(t *testing.T) error {
			return publish(t, hang, 2*time.Second,
				func(o *sns.Options) { o.APIOptions = append(o.APIOptions, awscall.Timeout(100*time.Millisecond, 0)) })
		}, true, false, ""},
		{"expired credentials: no status at all", func(t *testing.T) error {
			c := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(closedURL), RetryMaxAttempts: 1,
				Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
					return aws.Credentials{}, errors.New("the token expired")
				})})
			_, err := c.Publish(context.Background(), &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:1:t"), Message: aws.String("m")})
			return err
		}, false, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err(t)
			if err == nil {
				t.Fatal("no error")
			}
			if got := awscall.Transient(err); got != c.transient {
				t.Errorf("Transient: got %v, want %v (%v)", got, c.transient, err)
			}
			if got := awscall.Rejected(err); got != c.rejected {
				t.Errorf("Rejected: got %v, want %v (%v)", got, c.rejected, err)
			}
			if got := awscall.Code(err); got != c.code {
				t.Errorf("Code: got %q, want %q", got, c.code)
			}
		})
	}
}

func TestACallGetsNoMoreThanTheInvocationHasLeft(t *testing.T) {
	began := time.Now()
	err := publish(t, hang, 300*time.Millisecond, func(o *sns.Options) { o.APIOptions = append(o.APIOptions, awscall.Timeout(time.Minute, time.Second)) })
	var te *awscall.TimeoutError
	if !errors.As(err, &te) || te.Limit > 300*time.Millisecond {
		t.Fatalf("got %v, want a TimeoutError with a limit within the 300ms left", err)
	}
	if time.Since(began) > 2*time.Second {
		t.Errorf("the call outlived its invocation")
	}
	// Nothing left at all: the call is not even made.
	calls := 0
	err = publish(t, func(w http.ResponseWriter, r *http.Request) { calls++ }, -time.Second,
		func(o *sns.Options) { o.APIOptions = append(o.APIOptions, awscall.Timeout(time.Minute, time.Second)) })
	if !errors.Is(err, awscall.ErrNoTimeLeft) || calls != 0 || !awscall.Transient(err) {
		t.Errorf("past the deadline: got %v after %d calls, want ErrNoTimeLeft, no call, transient", err, calls)
	}
}
