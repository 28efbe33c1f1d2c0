package setup_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/setup"
)

func TestUpdateRemovingADestinationRemovesItsRule(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst-a", "ap-south-1", true)
	w.bucket(t, "dst-b", "eu-west-1", true)
	both := props("src", dest("dst-a", ""), dest("dst-b", ""))
	r := w.send(t, cfn.RequestCreate, "", both, nil)
	mustSucceed(t, r)
	one := props("src", dest("dst-a", ""))
	mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, one, both))
	ids := ruleIDs(w.replication(t, "src", "us-east-1"))
	if len(ids) != 1 || !strings.HasSuffix(ids[0], "-dst-a") {
		t.Errorf("rules after removing dst-b: %v", ids)
	}
}

func TestUpdateChangingThenDroppingTheQueue(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	q1, _ := w.sb.CreateQueue(sandbox.QueueOptions{Name: "first"})
	q2, _ := w.sb.CreateQueue(sandbox.QueueOptions{Name: "second"})
	p1 := props("src", dest("dst", ""))
	p1["NotificationQueueArn"] = q1
	r := w.send(t, cfn.RequestCreate, "", p1, nil)
	mustSucceed(t, r)
	p2 := props("src", dest("dst", ""))
	p2["NotificationQueueArn"] = q2
	mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, p2, p1))
	for _, q := range w.notifications(t, "src", "us-east-1").QueueConfigurations {
		if aws.ToString(q.QueueArn) != q2 {
			t.Errorf("after the change an entry still points at %s", aws.ToString(q.QueueArn))
		}
	}
	p3 := props("src", dest("dst", ""))
	mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, p3, p2))
	if n := w.notifications(t, "src", "us-east-1"); len(n.QueueConfigurations) != 0 {
		t.Errorf("after dropping the queue: %d entries left", len(n.QueueConfigurations))
	}
}

func TestAFailedMoveToANewSourceLeavesNothingThere(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "old-src", "us-east-1", true)
	w.bucket(t, "new-src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	oldProps := props("old-src", dest("dst", ""))
	r := w.send(t, cfn.RequestCreate, "", oldProps, nil)
	mustSucceed(t, r)
	newProps := props("new-src", dest("dst", ""))
	newProps["NotificationQueueArn"] = "arn:aws:sqs:us-east-1:000000000000:no-such-queue" // S3 refuses it at the write
	u := w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, newProps, oldProps)
	if u.Status != cfn.StatusFailed || u.PhysicalResourceID != r.PhysicalResourceID {
		t.Fatalf("got %s with id %q, want FAILED keeping %q", u.Status, u.PhysicalResourceID, r.PhysicalResourceID)
	}
	// CloudFormation rolls back with the old properties.
	mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, oldProps, newProps))
	if got := w.replication(t, "new-src", "us-east-1"); got != nil {
		t.Errorf("the failed move left rules on new-src: %v", ruleIDs(got))
	}
	if ids := ruleIDs(w.replication(t, "old-src", "us-east-1")); len(ids) != 1 {
		t.Errorf("old-src rules after the rollback: %v", ids)
	}
}

func TestAHalfCreatedDestinationIsSecuredOnTheNextRun(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "half-made", "eu-west-1", false) // created, then the run died
	d := dest("half-made", "eu-west-1")
	d["CreateIfMissing"] = "true"
	mustSucceed(t, w.send(t, cfn.RequestCreate, "", props("src", d), nil))
	c := w.s3("eu-west-1")
	if _, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("half-made")}); err != nil {
		t.Errorf("public access block: %v", err)
	}
	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("half-made")}); err != nil {
		t.Errorf("policy: %v", err)
	}
}

func TestDeleteCleansUpEvenWhenThePropertiesNoLongerParse(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	p := props("src", dest("dst", ""))
	r := w.send(t, cfn.RequestCreate, "", p, nil)
	mustSucceed(t, r)
	p["RetiredProperty"] = "a newer version no longer knows it"
	mustSucceed(t, w.send(t, cfn.RequestDelete, r.PhysicalResourceID, p, nil))
	if got := w.replication(t, "src", "us-east-1"); got != nil {
		t.Errorf("rules left: %v", ruleIDs(got))
	}
}

func TestTooManyDestinationsFailBeforeAnyWrite(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	var dests []map[string]any
	for i := range 14 {
		name := fmt.Sprintf("a-destination-bucket-with-a-rather-long-name-number-%02d", i)
		w.bucket(t, name, "us-east-1", true)
		dests = append(dests, dest(name, ""))
	}
	r := w.send(t, cfn.RequestCreate, "", props("src", dests...), nil)
	if r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, "too many destinations") {
		t.Errorf("got %s %q", r.Status, r.Reason)
	}
	if got := w.replication(t, "src", "us-east-1"); got != nil {
		t.Errorf("rules were written before the refusal: %d", len(got.Rules))
	}
}

func TestTheFunctionMayRunInAnotherRegionThanTheBuckets(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "ap-south-1", true)
	w.bucket(t, "dst", "eu-west-1", true)
	cfg, _ := w.sb.AWSConfig(context.Background(), "us-west-2")
	s, err := setup.New(setup.NewClients(cfg), bucketregion.New(s3.NewFromConfig(cfg)), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w.setup = s.WithScope(scope)
	mustSucceed(t, w.send(t, cfn.RequestCreate, "", props("src", dest("dst", "")), nil))
	if got := ruleIDs(w.replication(t, "src", "ap-south-1")); len(got) != 1 {
		t.Errorf("rules: %v", got)
	}
}
