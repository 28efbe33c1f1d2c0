package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/replaudit/replaudit/e2e"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/stack"
)

// provisionYAML provisions a template on a sandbox of its own, without
// DynamoDB or functions.
func provisionYAML(t *testing.T, src string, params map[string]string) (*e2e.Stack, *sandbox.Sandbox, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	st, err := e2e.Provision(context.Background(), e2e.Options{Sandbox: sb, Template: path, Events: "../events", Builder: &e2e.Builder{Root: ".."},
		Inputs: stack.Inputs{Parameters: params, StackName: "small"}})
	if st != nil {
		t.Cleanup(st.Close)
	}
	return st, sb, err
}

const queues = `
Parameters:
  Delay: {Type: Number, Default: 3}
  Receives: {Type: Number, Default: 2}
Resources:
  DLQ:
    Type: AWS::SQS::Queue
    DeletionPolicy: Retain
  Q:
    Type: AWS::SQS::Queue
    Properties:
      DelaySeconds: !Ref Delay
      VisibilityTimeout: 40
      MessageRetentionPeriod: 345600
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: !Ref Receives}
  P:
    Type: AWS::SQS::QueuePolicy
    Properties: {Queues: [!Ref Q], PolicyDocument: {Statement: []}}
  R:
    Type: AWS::IAM::Role
    Properties: {AssumeRolePolicyDocument: {Statement: []}}
`

func queueAttributes(t *testing.T, sb *sandbox.Sandbox, url string) map[string]string {
	t.Helper()
	cfg, err := sb.AWSConfig(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := sqs.NewFromConfig(cfg).GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes
}

func TestEachSettingComesFromTheTemplateAndTheRestIsInvented(t *testing.T) {
	st, sb, err := provisionYAML(t, queues, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, dlq := st.Resource("Q"), st.Resource("DLQ")
	got := queueAttributes(t, sb, q.Ref)
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlq.Attrs["Arn"], "maxReceiveCount": 2})
	want := map[string]string{"DelaySeconds": "3", "VisibilityTimeout": "40", "RedrivePolicy": string(redrive), "QueueArn": q.Attrs["Arn"]}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %s, want %s", k, got[k], v)
		}
	}
	if !strings.HasPrefix(q.Attrs["QueueName"], "small-Q-") || q.Ref != sb.QueueURL(q.Attrs["Arn"]) {
		t.Errorf("the queue is named %s, at %s", q.Attrs["QueueName"], q.Ref)
	}
	if want := []string{"MessageRetentionPeriod: the sandbox keeps a message until it is received"}; !reflect.DeepEqual(q.Unrepresented, want) {
		t.Errorf("unrepresented: got %q, want %q", q.Unrepresented, want)
	}
	if got, want := st.Skipped(), map[string]string{"P": "AWS::SQS::QueuePolicy", "R": "AWS::IAM::Role"}; !reflect.DeepEqual(got, want) {
		t.Errorf("skipped: got %v, want %v", got, want)
	}
	if arn := st.Resource("R").Attrs["Arn"]; !strings.HasPrefix(arn, "arn:aws:iam::"+sandbox.Account+":role/small-R-") {
		t.Errorf("the role's invented ARN: %s", arn)
	}
}

func TestAnUpdateChangesWhatTheSandboxCanChangeInPlaceAndRefusesTheRest(t *testing.T) {
	st, sb, err := provisionYAML(t, queues, nil)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := st.Update(context.Background(), map[string]string{"Delay": "7"})
	if err != nil || !reflect.DeepEqual(changed, []string{"Q"}) {
		t.Fatalf("update the delay: changed %v, %v", changed, err)
	}
	if got := queueAttributes(t, sb, st.Resource("Q").Ref)["DelaySeconds"]; got != "7" {
		t.Errorf("DelaySeconds after the update: %s", got)
	}
	_, err = st.Update(context.Background(), map[string]string{"Delay": "7", "Receives": "4"})
	if err == nil || !strings.Contains(err.Error(), "Q (AWS::SQS::Queue) changed (RedrivePolicy): the sandbox cannot update it in place") {
		t.Errorf("update the redrive policy: %v", err)
	}
}

func TestAPropertyTheProvisionerDoesNotKnowIsAnError(t *testing.T) {
	_, _, err := provisionYAML(t, "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {FifoQueue: true}\n", nil)
	if err == nil || !strings.Contains(err.Error(), "provision Q (AWS::SQS::Queue): property FifoQueue: the provisioner does not know") {
		t.Errorf("got %v", err)
	}
}

func TestADeleteKeepsWhatItsDeletionPolicyRetains(t *testing.T) {
	st, _, err := provisionYAML(t, queues, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Delete(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"DLQ": e2e.Retained, "Q": e2e.Left, "P": e2e.Deleted, "R": e2e.Deleted}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
