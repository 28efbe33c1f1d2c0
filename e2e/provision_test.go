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
	changes, err := st.Update(context.Background(), map[string]string{"Delay": "7"})
	if want := []e2e.Change{{LogicalID: "Q", Action: e2e.Updated}}; err != nil || !reflect.DeepEqual(changes, want) {
		t.Fatalf("update the delay: got %v, %v; want %v", changes, err, want)
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

// extras are resources of a Fn::ForEach loop, as template.yaml's
// AdditionalSources are: a role, a policy on it, and a queue kept on
// delete, per entry.
const extras = `
Transform: AWS::LanguageExtensions
Parameters:
  Extras: {Type: CommaDelimitedList, Default: ''}
Conditions:
  HasExtras: !Not [!Equals [!Join ['', !Ref Extras], '']]
Resources:
  Q:
    Type: AWS::SQS::Queue
  Fn::ForEach::Extras:
    - Extra
    - !Ref Extras
    - 'Role&{Extra}':
        Type: AWS::IAM::Role
        Condition: HasExtras
        Properties: {AssumeRolePolicyDocument: {Statement: []}}
      'Access&{Extra}':
        Type: AWS::IAM::Policy
        Condition: HasExtras
        Properties:
          PolicyName: !Sub 'access-&{Extra}'
          Roles: [!Ref 'Role&{Extra}']
          PolicyDocument: {Statement: [{Effect: Allow, Action: 'sqs:SendMessage', Resource: !GetAtt Q.Arn}]}
      'Kept&{Extra}':
        Type: AWS::SQS::Queue
        Condition: HasExtras
        DeletionPolicy: Retain
        Properties: {DelaySeconds: 2}
`

func TestAnUpdateThatDropsAResourceDeletesItDependentsFirstAndLeavesTheRest(t *testing.T) {
	st, _, err := provisionYAML(t, extras, map[string]string{"Extras": "a-1,b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"Rolea1", "Accessa1", "Kepta1", "Roleb", "Accessb", "Keptb"} {
		if st.Resource(id) == nil {
			t.Fatalf("%s was not provisioned", id)
		}
	}
	changes, err := st.Update(context.Background(), map[string]string{"Extras": "b"})
	if err != nil {
		t.Fatal(err)
	}
	// The policy refers to the role: it goes first.
	want := []e2e.Change{{LogicalID: "Accessa1", Action: e2e.Deleted}, {LogicalID: "Rolea1", Action: e2e.Deleted}, {LogicalID: "Kepta1", Action: e2e.Retained}}
	if !reflect.DeepEqual(changes, want) {
		t.Errorf("dropping an entry: got %v, want %v", changes, want)
	}
	for id, want := range map[string]bool{"Rolea1": false, "Accessa1": false, "Kepta1": false, "Roleb": true, "Accessb": true, "Keptb": true, "Q": true} {
		if got := st.Resource(id) != nil; got != want {
			t.Errorf("%s in the stack after the update: %v, want %v", id, got, want)
		}
	}

	// An empty collection: the loop's last resources go, after nothing
	// was updated.
	changes, err = st.Update(context.Background(), map[string]string{"Extras": ""})
	if err != nil {
		t.Fatal(err)
	}
	want = []e2e.Change{{LogicalID: "Accessb", Action: e2e.Deleted}, {LogicalID: "Roleb", Action: e2e.Deleted}, {LogicalID: "Keptb", Action: e2e.Retained}}
	if !reflect.DeepEqual(changes, want) {
		t.Errorf("dropping the last entry: got %v, want %v", changes, want)
	}
	got, err := st.Delete(context.Background())
	if err != nil || !reflect.DeepEqual(got, map[string]string{"Q": e2e.Left}) {
		t.Errorf("the delete after: %v, %v", got, err)
	}
}
