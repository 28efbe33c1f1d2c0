package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		want int
	}{
		{nil, exitUsage},
		{[]string{"--help"}, exitOK},
		{[]string{"nope"}, exitUsage},
		{[]string{"demo", "--help"}, exitOK},
		{[]string{"sandbox", "--no-such-flag"}, exitUsage},
		{[]string{"demo", "extra"}, exitUsage},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if got := run(context.Background(), c.args, &out, &errOut); got != c.want {
			t.Errorf("replaudit %v: exit %d, want %d (stderr %q)", c.args, got, c.want, errOut.String())
		}
	}
}

func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	for _, c := range commands {
		var out bytes.Buffer
		run(context.Background(), []string{c.name, "--help"}, &out, &out)
		if !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "replaudit "+c.name) {
			t.Errorf("%s --help:\n%s\nwant a summary and examples", c.name, out.String())
		}
	}
}

func TestSandboxWritesItsEnvironmentAndStopsOnSignal(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"sandbox", "--env-file", envFile, "--dynamodb=false"}, &out, &errOut)
	}()

	var env []byte
	deadline := time.Now().Add(10 * time.Second)
	for len(env) == 0 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no env file after 10s; stderr: %s", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
		env, _ = os.ReadFile(envFile)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 {
			t.Fatalf("not an export line: %q", line)
		}
		vars[k] = v
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "REPLAUDIT_SANDBOX_URL"} {
		if vars[k] == "" {
			t.Errorf("the env file lacks %s", k)
		}
	}
	resp, err := http.Get(vars["REPLAUDIT_SANDBOX_URL"] + "/faults")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("control API: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	cancel() // what SIGINT and SIGTERM do through signal.NotifyContext
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d, want 0; stderr: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sandbox did not stop within 10s of its signal")
	}
	if !strings.Contains(out.String(), "export AWS_ENDPOINT_URL_S3=") {
		t.Errorf("stdout lacks the export lines: %q", out.String())
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("the env file outlived the sandbox: %v", err)
	}
}

func TestDemoTellsTheWholeStory(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(context.Background(), &out, false); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	story := out.String()
	for _, want := range []string{
		"acme-data-aps1   in ap-south-1  versioning Enabled",
		"photos/été/plage à midi.jpg  PENDING -> COMPLETED",
		"REPLICA  same",
		"PENDING -> FAILED",
		"Replication:OperationFailedReplication",
		"failureReason DstPutObjectNotPermitted",
		"s3:TestEvent",
	} {
		if !strings.Contains(story, want) {
			t.Errorf("the demo never says %q:\n%s", want, story)
		}
	}
}
