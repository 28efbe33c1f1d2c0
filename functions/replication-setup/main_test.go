package main

import (
	"context"
	"encoding/json"
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
// under the Lambda Runtime Interface Emulator, against the sandbox.
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
	var env []string
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
	raw, err := os.ReadFile("../../events/cfn-create.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	_ = json.Unmarshal(raw, &ev)
	ev["ResponseURL"] = srv.URL
	payload, _ := json.Marshal(ev)
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := fn.InvokeJSON(callCtx, payload); err != nil {
		t.Fatalf("invoke: %v", err)
	}
	select {
	case resp := <-responses:
		if resp.Status != cfn.StatusSuccess || !strings.HasSuffix(resp.PhysicalResourceID, ":acme-data-use1") {
			t.Errorf("response: %+v", resp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the function never answered CloudFormation")
	}
	out, err := s3.NewFromConfig(cfg).GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("acme-data-use1")})
	if err != nil || len(out.ReplicationConfiguration.Rules) != 1 {
		t.Errorf("replication after Create: %+v, %v", out, err)
	}
}
