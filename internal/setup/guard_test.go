package setup_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/replaudit/replaudit/internal/setup"
)

// invoke runs fn as Lambda would: under cfn.LambdaWrap, with a deadline,
// answering a local stand-in for the presigned ResponseURL.
func invoke(t *testing.T, fn cfn.CustomResourceFunction, typ cfn.RequestType, deadline time.Duration) ([]cfn.Response, time.Duration) {
	t.Helper()
	r := newResponder(t)
	ev := cfn.Event{RequestType: typ, RequestID: "req-1", ResponseURL: r.srv.URL, ResourceType: "Custom::S3Replication",
		LogicalResourceID: "Replication", StackID: stackID, ResourceProperties: map[string]any{}}
	if typ != cfn.RequestCreate {
		ev.PhysicalResourceID = "replaudit-0123456789:src"
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	began := time.Now()
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("the panic escaped to Lambda, which would retry and answer twice: %v", p)
			}
		}()
		_, _ = cfn.LambdaWrap(setup.Guard(fn, 300*time.Millisecond, slog.New(slog.DiscardHandler)))(ctx, ev)
	}()
	took := time.Since(began)
	time.Sleep(50 * time.Millisecond) // an abandoned handler must not answer late
	return r.responses(), took
}

func TestGuardAnswersExactlyOnceWhateverHappens(t *testing.T) {
	panics := func(context.Context, cfn.Event) (string, map[string]any, error) { panic("nil map") }
	hangs := func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
		time.Sleep(3 * time.Second) // ignores its context, as a stuck SDK call might
		return "late", nil, nil
	}
	for _, typ := range []cfn.RequestType{cfn.RequestCreate, cfn.RequestUpdate, cfn.RequestDelete} {
		for name, fn := range map[string]cfn.CustomResourceFunction{"panic": panics, "deadline": hangs} {
			t.Run(string(typ)+" "+name, func(t *testing.T) {
				got, took := invoke(t, fn, typ, time.Second)
				if len(got) != 1 {
					t.Fatalf("got %d responses, want exactly 1: %+v", len(got), got)
				}
				if got[0].Status != cfn.StatusFailed || got[0].Reason == "" || got[0].PhysicalResourceID == "" {
					t.Errorf("got %+v, want FAILED with a reason and a physical id", got[0])
				}
				if typ != cfn.RequestCreate && got[0].PhysicalResourceID != "replaudit-0123456789:src" {
					t.Errorf("physical id: got %q, want the one CloudFormation sent", got[0].PhysicalResourceID)
				}
				if name == "deadline" && took > time.Second {
					t.Errorf("answered after %v, past the Lambda deadline", took)
				}
			})
		}
	}
}

func TestGuardCutsTheReasonToFitCloudFormationsLimit(t *testing.T) {
	long := strings.Repeat("bucket \"é\" is wrong; ", 600)
	fails := func(context.Context, cfn.Event) (string, map[string]any, error) { return "", nil, errors.New(long) }
	r := newResponder(t)
	ev := cfn.Event{RequestType: cfn.RequestCreate, RequestID: "req-1", ResponseURL: r.srv.URL, LogicalResourceID: "Replication", StackID: stackID}
	_, _ = cfn.LambdaWrap(setup.Guard(fails, time.Second, slog.New(slog.DiscardHandler)))(context.Background(), ev)
	got := r.responses()
	if len(got) != 1 {
		t.Fatalf("got %d responses", len(got))
	}
	if r.size[0] > 4096 {
		t.Errorf("response body is %d bytes, over 4096", r.size[0])
	}
	if !strings.HasPrefix(got[0].Reason, "bucket \"é\" is wrong") || !strings.HasSuffix(got[0].Reason, "[cut: see the function's log]") {
		t.Errorf("reason: %q...", got[0].Reason[:80])
	}
}

func TestGuardRefusesDataTooLargeToSend(t *testing.T) {
	big := func(context.Context, cfn.Event) (string, map[string]any, error) {
		return "id", map[string]any{"RuleIds": strings.Repeat("x", 5000)}, nil
	}
	got, _ := invoke(t, big, cfn.RequestCreate, time.Second)
	if len(got) != 1 || got[0].Status != cfn.StatusFailed || !strings.Contains(got[0].Reason, "over CloudFormation's 4096") {
		t.Errorf("got %+v, want one FAILED saying the data is too large", got)
	}
}
