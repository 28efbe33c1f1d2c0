package setup_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
	"github.com/replaudit/replaudit/internal/setup"
)

// invoke runs fn as Lambda would: under cfn.LambdaWrap, with a deadline,
// answering a local stand-in for the presigned ResponseURL. Once the guard
// has answered, invoke closes letGo (nil when fn does not wait on it) and
// waits until the goroutine that ran fn, and any it started, has ended
// before it reads the responses: a late answer, sent when an abandoned
// handler returned at last, would show as a second response.
func invoke(t *testing.T, fn cfn.CustomResourceFunction, letGo chan struct{}, typ cfn.RequestType, deadline time.Duration) ([]cfn.Response, time.Duration) {
	t.Helper()
	ranOn := make(chan string, 1)
	tracked := func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
		ranOn <- goroutineID()
		return fn(ctx, ev)
	}
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
		_, _ = cfn.LambdaWrap(setup.Guard(tracked, 300*time.Millisecond, slog.New(slog.DiscardHandler)))(ctx, ev)
	}()
	took := time.Since(began)
	if letGo != nil {
		close(letGo)
	}
	id := <-ranOn
	sandboxtest.Eventually(t, 5*time.Second, "the handler's goroutine to end", func() bool { return !running(id) })
	return r.responses(), took
}

// goroutineID returns the calling goroutine's id, as stack traces name it.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

// running reports whether goroutine id, or one it started, still runs.
// Ids are never reused.
func running(id string) bool {
	var stacks strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
	all := stacks.String()
	return strings.Contains(all, "goroutine "+id+" [") || strings.Contains(all, " in goroutine "+id+"\n")
}

func TestGuardAnswersExactlyOnceWhateverHappens(t *testing.T) {
	panics := func(context.Context, cfn.Event) (string, map[string]any, error) { panic("nil map") }
	// stuck ignores its context, as a stuck SDK call might, and returns only
	// when let go: past the Lambda deadline, after the guard has answered.
	stuck := func(letGo <-chan struct{}) cfn.CustomResourceFunction {
		return func(context.Context, cfn.Event) (string, map[string]any, error) {
			<-letGo
			return "late", nil, nil
		}
	}
	for _, typ := range []cfn.RequestType{cfn.RequestCreate, cfn.RequestUpdate, cfn.RequestDelete} {
		for _, name := range []string{"panic", "deadline"} {
			t.Run(string(typ)+" "+name, func(t *testing.T) {
				fn, letGo := cfn.CustomResourceFunction(panics), chan struct{}(nil)
				if name == "deadline" {
					letGo = make(chan struct{})
					fn = stuck(letGo)
				}
				got, took := invoke(t, fn, letGo, typ, time.Second)
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
	got, _ := invoke(t, big, nil, cfn.RequestCreate, time.Second)
	if len(got) != 1 || got[0].Status != cfn.StatusFailed || !strings.Contains(got[0].Reason, "over CloudFormation's 4096") {
		t.Errorf("got %+v, want one FAILED saying the data is too large", got)
	}
}
