package setup_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/setup"
)

const otherStack = "arn:aws:cloudformation:us-east-1:" + sandbox.Account + ":stack/their-stack/7c2d3e4f-0000-4000-8000-000000000009"

// noWrites fails the test for every call since the last ResetCalls that
// would have changed something.
func noWrites(t *testing.T, w *world, what string) {
	t.Helper()
	for _, c := range w.writes() {
		t.Errorf("%s wrote: %d %s on %s", what, c.Count, c.Operation, c.Resource)
	}
}

// failedSaying checks a FAILED answer whose Reason holds want.
func failedSaying(t *testing.T, r cfn.Response, want string) {
	t.Helper()
	if r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, want) {
		t.Errorf("got %s %q, want FAILED saying %q", r.Status, r.Reason, want)
	}
}

// theirStack gives other-src the rules and notification entries of
// another stack's Replication resource, through a setup function of its
// own, and returns what it answered.
func theirStack(t *testing.T, w *world) (cfn.Response, map[string]any) {
	t.Helper()
	w.bucket(t, "other-src", "us-east-1", true)
	w.bucket(t, "other-dst", "eu-west-1", true)
	queue, _ := w.sb.CreateQueue(sandbox.QueueOptions{Name: "their-auditor"})
	cfg, _ := w.sb.AWSConfig(context.Background(), "us-east-1")
	theirs, err := setup.New(setup.NewClients(cfg), bucketregion.New(s3.NewFromConfig(cfg)), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ours := w.setup
	w.setup, w.stack = theirs.WithScope(setup.Scope{Sources: []string{"other-src"}, StackID: otherStack}), otherStack
	p := props("other-src", dest("other-dst", ""))
	p["NotificationQueueArn"] = queue
	r := w.send(t, cfn.RequestCreate, "", p, nil)
	mustSucceed(t, r)
	w.setup, w.stack = ours, stackID
	return r, p
}

func TestOnlyTheStacksOwnSourcesAreConfigured(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	theirs, theirProps := theirStack(t, w)
	before := js(w.replication(t, "other-src", "us-east-1")) + js(w.notifications(t, "other-src", "us-east-1"))
	untouched := func(t *testing.T) {
		t.Helper()
		if after := js(w.replication(t, "other-src", "us-east-1")) + js(w.notifications(t, "other-src", "us-east-1")); after != before {
			t.Errorf("other-src changed:\nbefore %s\nafter  %s", before, after)
		}
	}
	created := w.send(t, cfn.RequestCreate, "", props("src", dest("dst", "")), nil)
	mustSucceed(t, created)

	t.Run("a Create naming a bucket outside SOURCE_BUCKETS is refused before any call to S3", func(t *testing.T) {
		w.sb.ResetCalls()
		r := w.send(t, cfn.RequestCreate, "", props("other-src", dest("dst", "")), nil)
		failedSaying(t, r, `SourceBucket "other-src" is not one of this stack's source buckets (SOURCE_BUCKETS), so this function may not configure it.`)
		if calls := w.sb.Calls(); len(calls) != 0 {
			t.Errorf("the refusal called S3: %+v", calls)
		}
		untouched(t)
	})
	t.Run("so is an Update that moves to one, without undoing anything there", func(t *testing.T) {
		w.sb.ResetCalls()
		r := w.send(t, cfn.RequestUpdate, created.PhysicalResourceID, props("other-src", dest("dst", "")), props("src", dest("dst", "")))
		failedSaying(t, r, `SourceBucket "other-src" is not one of this stack's source buckets`)
		if r.PhysicalResourceID != created.PhysicalResourceID {
			t.Errorf("physical id: got %q, want the old %q kept", r.PhysicalResourceID, created.PhysicalResourceID)
		}
		noWrites(t, w, "the refused Update")
		untouched(t)
	})
	t.Run("a request with another stack's id is refused, a Delete strips nothing", func(t *testing.T) {
		w.sb.ResetCalls()
		w.stack = otherStack
		defer func() { w.stack = stackID }()
		failedSaying(t, w.send(t, cfn.RequestCreate, "", props("src", dest("dst", "")), nil),
			"StackId "+otherStack+" is not the stack this function serves (its STACK_ID)")
		// The forged Delete names their bucket and their own physical id,
		// so the rule IDs it would remove are theirs.
		mustSucceed(t, w.send(t, cfn.RequestDelete, theirs.PhysicalResourceID, theirProps, nil))
		noWrites(t, w, "another stack's requests")
		untouched(t)
		if got := ruleIDs(w.replication(t, "src", "us-east-1")); len(got) != 1 {
			t.Errorf("src rules: got %v, want ours kept", got)
		}
	})
	t.Run("without STACK_ID a forged Delete of a bucket outside SOURCE_BUCKETS strips nothing either", func(t *testing.T) {
		w.setup.WithScope(setup.Scope{Sources: scope.Sources})
		defer w.setup.WithScope(scope)
		w.stack = otherStack
		defer func() { w.stack = stackID }()
		w.sb.ResetCalls()
		mustSucceed(t, w.send(t, cfn.RequestDelete, theirs.PhysicalResourceID, theirProps, nil))
		noWrites(t, w, "the forged Delete")
		untouched(t)
	})
	t.Run("this stack's Delete of a bucket outside SOURCE_BUCKETS removes only what this stack wrote", func(t *testing.T) {
		w.sb.ResetCalls()
		mustSucceed(t, w.send(t, cfn.RequestDelete, "replaudit-0123456789:other-src", theirProps, nil))
		noWrites(t, w, "a Delete of what this stack never wrote")
		untouched(t)
	})
}

func TestSourceBucketsUnsetRefusesEveryCreateAndUpdate(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", false)
	w.bucket(t, "dst", "ap-south-1", false)
	w.setup.WithScope(setup.Scope{})
	w.sb.ResetCalls()
	r := w.send(t, cfn.RequestCreate, "", props("src", dest("dst", "")), nil)
	failedSaying(t, r, "This function may configure no bucket: set SOURCE_BUCKETS on it to the stack's source buckets, comma-separated.")
	if strings.Count(r.Reason, ".") != 1 {
		t.Errorf("Reason: got %q, want one sentence", r.Reason)
	}
	failedSaying(t, w.send(t, cfn.RequestUpdate, "replaudit-0123456789:src", props("src", dest("dst", "")), props("src", dest("dst", ""))), "SOURCE_BUCKETS")
	// The Delete that follows the refused Create succeeds.
	mustSucceed(t, w.send(t, cfn.RequestDelete, r.PhysicalResourceID, props("src", dest("dst", "")), nil))
	noWrites(t, w, "a function without SOURCE_BUCKETS")
	if got := w.versioning(t, "src", "us-east-1"); got != "" {
		t.Errorf("versioning of src: got %q, want it untouched", got)
	}
}

// A stack update that changes the source bucket updates the function's
// SOURCE_BUCKETS first, then sends Update to the resource with the new
// source, then Delete with the old one. A rollback sends Update with the
// old source, then Delete with the new one, the function's environment
// naming either.
func TestMovingTheStackToAnotherSource(t *testing.T) {
	start := func(t *testing.T) (*world, cfn.Response, cfn.Response, map[string]any, map[string]any) {
		t.Helper()
		w := newWorld(t)
		w.bucket(t, "old-src", "us-east-1", true)
		w.bucket(t, "new-src", "us-east-1", true)
		w.bucket(t, "dst", "ap-south-1", true)
		queue, _ := w.sb.CreateQueue(sandbox.QueueOptions{Name: "auditor"})
		oldProps := props("old-src", dest("dst", ""))
		oldProps["NotificationQueueArn"] = queue
		newProps := props("new-src", dest("dst", ""))
		newProps["NotificationQueueArn"] = queue
		w.setup.WithScope(setup.Scope{Sources: []string{"old-src"}, StackID: stackID})
		created := w.send(t, cfn.RequestCreate, "", oldProps, nil)
		mustSucceed(t, created)
		w.setup.WithScope(setup.Scope{Sources: []string{"new-src"}, StackID: stackID})
		moved := w.send(t, cfn.RequestUpdate, created.PhysicalResourceID, newProps, oldProps)
		mustSucceed(t, moved)
		return w, created, moved, oldProps, newProps
	}
	holds := func(t *testing.T, w *world, bucket string, want bool) {
		t.Helper()
		rules, notes := len(ruleIDs(w.replication(t, bucket, "us-east-1"))), len(w.notifications(t, bucket, "us-east-1").QueueConfigurations)
		if want && (rules != 1 || notes != 3) || !want && (rules != 0 || notes != 0) {
			t.Errorf("%s holds %d rules and %d queue entries; want the stack's configuration there: %v", bucket, rules, notes, want)
		}
	}

	t.Run("the Delete of the old source cleans it up", func(t *testing.T) {
		w, created, _, oldProps, _ := start(t)
		mustSucceed(t, w.send(t, cfn.RequestDelete, created.PhysicalResourceID, oldProps, nil))
		holds(t, w, "old-src", false)
		holds(t, w, "new-src", true)
	})
	t.Run("when the old source refuses, as under the stack's scoped role, the Delete succeeds and says what stays", func(t *testing.T) {
		w, created, _, oldProps, _ := start(t)
		if err := w.sb.InjectFault(sandbox.Fault{Bucket: "old-src", Kind: sandbox.FaultForbid}); err != nil {
			t.Fatal(err)
		}
		mustSucceed(t, w.send(t, cfn.RequestDelete, created.PhysicalResourceID, oldProps, nil))
		w.sb.ClearFaults("old-src")
		holds(t, w, "old-src", true)
		holds(t, w, "new-src", true)
		if !strings.Contains(w.logs.String(), "the stack's rules and notification entries stay on its former source") {
			t.Errorf("the log does not say what stays:\n%s", w.logs.String())
		}
	})
	t.Run("without STACK_ID that Delete succeeds and leaves the old source as it was", func(t *testing.T) {
		w, created, _, oldProps, _ := start(t)
		w.setup.WithScope(setup.Scope{Sources: []string{"new-src"}})
		w.sb.ResetCalls()
		mustSucceed(t, w.send(t, cfn.RequestDelete, created.PhysicalResourceID, oldProps, nil))
		noWrites(t, w, "the Delete without STACK_ID")
		holds(t, w, "old-src", true)
	})
	t.Run("a rollback confirms the old source and cleans up the new one", func(t *testing.T) {
		w, created, moved, oldProps, newProps := start(t)
		// SOURCE_BUCKETS still names the new source.
		w.sb.ResetCalls()
		back := w.send(t, cfn.RequestUpdate, moved.PhysicalResourceID, oldProps, newProps)
		mustSucceed(t, back)
		if back.PhysicalResourceID != created.PhysicalResourceID {
			t.Errorf("physical id after the rollback: got %q, want %q", back.PhysicalResourceID, created.PhysicalResourceID)
		}
		noWrites(t, w, "the rollback Update")
		w.setup.WithScope(setup.Scope{Sources: []string{"old-src"}, StackID: stackID})
		mustSucceed(t, w.send(t, cfn.RequestDelete, moved.PhysicalResourceID, newProps, nil))
		holds(t, w, "old-src", true)
		holds(t, w, "new-src", false)
	})
	t.Run("an Update naming an unlisted source that would change it is refused", func(t *testing.T) {
		w, _, moved, oldProps, newProps := start(t)
		changed := props("old-src", dest("dst", ""))
		changed["Prefix"] = "elsewhere/"
		w.sb.ResetCalls()
		r := w.send(t, cfn.RequestUpdate, moved.PhysicalResourceID, changed, newProps)
		failedSaying(t, r, `SourceBucket "old-src" is not one of this stack's source buckets (SOURCE_BUCKETS): an Update may name it only to confirm what the stack already wrote there`)
		noWrites(t, w, "the refused Update")
		holds(t, w, "old-src", true)
		// And a Create may never name one, even to confirm.
		failedSaying(t, w.send(t, cfn.RequestCreate, "", oldProps, nil), `SourceBucket "old-src" is not one of this stack's source buckets (SOURCE_BUCKETS), so`)
	})
}
