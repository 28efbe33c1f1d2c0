package main

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// TestBootstrapUnderTheEmulator builds this function as Lambda runs it, a
// bootstrap binary, and sends it CloudFormation's sample Create request
// under the Lambda Runtime Interface Emulator, against the sandbox: once
// with the environment the template sets, once without SOURCE_BUCKETS, and
// once adopting a role the source uses, which it checks through IAM.
func TestBootstrapUnderTheEmulator(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.RIE)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg, _ := sb.AWSConfig(ctx, "us-east-1")
	for bucket, region := range map[string]string{"acme-data-use1": "us-east-1", "acme-data-aps1": "ap-south-1"} {
		in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
		if region != "us-east-1" {
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
		}
		if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.Region = region }).CreateBucket(ctx, in); err != nil {
			t.Fatal(err)
		}
	}

	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	raw, err := os.ReadFile("../../events/cfn-create.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	_ = json.Unmarshal(raw, &ev)
	rules := func() int {
		out, err := s3.NewFromConfig(cfg).GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("acme-data-use1")})
		if err != nil {
			return 0
		}
		return len(out.ReplicationConfiguration.Rules)
	}

	t.Run("without SOURCE_BUCKETS it refuses, naming the variable", func(t *testing.T) {
		resp := invokeBootstrap(t, sb, bootstrap, ev, nil)
		if resp.Status != cfn.StatusFailed || !strings.Contains(resp.Reason, "SOURCE_BUCKETS") {
			t.Errorf("response: %+v", resp)
		}
		if n := rules(); n != 0 {
			t.Errorf("the refused Create wrote %d rules", n)
		}
	})
	t.Run("with the template's environment it turns replication on", func(t *testing.T) {
		resp := invokeBootstrap(t, sb, bootstrap, ev, []string{"SOURCE_BUCKETS=other-bucket, acme-data-use1", "STACK_ID=" + ev["StackId"].(string)})
		if resp.Status != cfn.StatusSuccess || !strings.HasSuffix(resp.PhysicalResourceID, ":acme-data-use1") {
			t.Errorf("response: %+v", resp)
		}
		if n := rules(); n != 1 {
			t.Errorf("replication after Create: %d rules, want 1", n)
		}
	})
	t.Run("it checks an adopted role through IAM and STS at their endpoints", func(t *testing.T) {
		// The source now replicates a rule of theirs with their role,
		// which may not replicate to acme-data-aps1.
		role, err := sb.PutRole("their-replication", sandbox.Policy{Name: "replicate", Statement: []sandbox.Statement{
			{Effect: "Allow", Action: []string{"s3:*"}, Resource: []string{"arn:aws:s3:::acme-data-use1", "arn:aws:s3:::acme-data-use1/*"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s3.NewFromConfig(cfg).PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("acme-data-use1"),
			ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String(role), Rules: []types.ReplicationRule{{
				ID: aws.String("their-rule"), Priority: aws.Int32(1), Status: types.ReplicationRuleStatusEnabled,
				Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("legal/")},
				DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
				Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::acme-data-aps1")},
			}}}}); err != nil {
			t.Fatal(err)
		}
		adopting := maps.Clone(ev)
		props := maps.Clone(ev["ResourceProperties"].(map[string]any))
		props["RoleArn"], props["AllowedAccounts"] = role, sandbox.Account
		adopting["ResourceProperties"] = props
		resp := invokeBootstrap(t, sb, bootstrap, adopting, []string{"SOURCE_BUCKETS=acme-data-use1", "STACK_ID=" + ev["StackId"].(string)})
		if resp.Status != cfn.StatusFailed || !strings.Contains(resp.Reason, "s3:ReplicateObject, s3:ReplicateDelete, s3:ReplicateTags on arn:aws:s3:::acme-data-aps1/*") {
			t.Errorf("response: %+v", resp)
		}
		if n := rules(); n != 1 {
			t.Errorf("replication after the refused Create: %d rules, want their one", n)
		}
	})
}

// invokeBootstrap runs the bootstrap under the emulator with the sandbox's
// environment and env, sends it ev and returns CloudFormation's answer.
func invokeBootstrap(t *testing.T, sb *sandbox.Sandbox, bootstrap string, ev map[string]any, env []string) cfn.Response {
	t.Helper()
	ctx := context.Background()
	for _, kv := range sb.Env() {
		env = append(env, kv[0]+"="+kv[1])
	}
	fn, err := sandbox.StartEmulated(ctx, sandbox.EmulatorOptions{Bootstrap: bootstrap, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	responses := make(chan cfn.Response, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var resp cfn.Response
		_ = json.NewDecoder(r.Body).Decode(&resp)
		responses <- resp
	}))
	defer srv.Close()
	ev["ResponseURL"] = srv.URL
	payload, _ := json.Marshal(ev)
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := fn.InvokeJSON(callCtx, payload); err != nil {
		t.Fatalf("invoke: %v", err)
	}
	select {
	case resp := <-responses:
		return resp
	case <-time.After(5 * time.Second):
		t.Fatal("the function never answered CloudFormation")
	}
	return cfn.Response{}
}
