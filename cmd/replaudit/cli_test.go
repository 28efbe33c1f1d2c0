package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
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
		{[]string{"list", "--help"}, exitOK},
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
		var out, errOut bytes.Buffer
		run(context.Background(), []string{c.name, "--help"}, &out, &errOut)
		if !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "replaudit "+c.name) {
			t.Errorf("%s --help:\n%s\nwant a summary and examples", c.name, out.String())
		}
		if strings.Count(out.String(), "Examples:") != 1 || errOut.Len() != 0 {
			t.Errorf("%s --help printed its help more than once, or on stderr", c.name)
		}
	}
}

func TestSandboxWritesItsEnvironmentAndStopsOnSignal(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	errOut, stderr := stderrFile(t)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"sandbox", "--env-file", envFile, "--dynamodb=false"}, &out, errOut)
	}()

	env := readEnvFile(t, envFile, 10*time.Second, stderr)
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

	stopsOnSignal(t, cancel, done, stderr, "the sandbox")
	if !strings.Contains(out.String(), "export AWS_ENDPOINT_URL_S3=") {
		t.Errorf("stdout lacks the export lines: %q", out.String())
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("the env file outlived the sandbox: %v", err)
	}
}

func TestDemoTellsTheWholeStory(t *testing.T) {
	var out bytes.Buffer
	sandboxtest.Need(t, sandboxtest.Dynalite)
	t.Chdir("../..") // where make tools put dynalite
	if err := runDemo(context.Background(), &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	story := out.String()
	for _, want := range []string{
		"Response captured: SUCCESS, PhysicalResourceId replaudit-",
		"acme-data-aps1   versioning Enabled",
		"photos/été/plage à midi.jpg",
		"VERIFIED  REPLICA, same version id",
		"ALERT  [CRITICAL] FAILED s3://acme-data-use1/reports/2026/Q4 draft.pdf",
		"Reason:    DstPutObjectNotPermitted",
		"ALERT  [WARNING] LONG_PENDING s3://acme-data-use1/data/big-export.parquet",
		"ALERT  [INFO] RESOLVED s3://acme-data-use1/data/big-export.parquet",
		"INVENTORY 1 version of s3://acme-data-use1 needs replicating",
		"example      FAILED s3://acme-data-use1/reports/2026/Q4 draft.pdf",
		"ALERT  [INFO] RESOLVED s3://acme-data-use1/reports/2026/Q4 draft.pdf",
		"VERIFIED         5",
		"identical to before the stack",
		"Notifications left: restores-team",
	} {
		if !strings.Contains(story, want) {
			t.Errorf("the demo never says %q:\n%s", want, story)
		}
	}
}

func TestSandboxProcessStopsDynaliteOnSIGTERM(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.Dynalite)
	bin := filepath.Join(t.TempDir(), "replaudit")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	cmd := exec.Command(bin, "sandbox", "--env-file", envFile)
	cmd.Dir = "../.." // where make tools put dynalite
	var stderr func() string
	cmd.Stderr, stderr = stderrFile(t)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	readEnvFile(t, envFile, 15*time.Second, stderr)
	// A child belongs to the thread that started it: read every thread's list.
	var kids []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", cmd.Process.Pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		kids = append(kids, strings.Fields(string(b))...)
	}
	if len(kids) == 0 {
		t.Fatal("the sandbox has no child process; dynalite should be one")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sandbox did not exit within 10s of SIGTERM")
	}
	for _, pid := range kids {
		if _, err := os.Stat("/proc/" + pid + "/cmdline"); err == nil {
			if b, _ := os.ReadFile("/proc/" + pid + "/stat"); !strings.Contains(string(b), ") Z ") {
				t.Errorf("child %s (dynalite) outlived the sandbox", pid)
			}
		}
	}
}

// stderrFile returns a file for a command's stderr and a function that
// reads what it holds, safe to call while the command still writes.
func stderrFile(t *testing.T) (*os.File, func() string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, func() string {
		b, _ := os.ReadFile(f.Name())
		return string(b)
	}
}

// readEnvFile returns the sandbox's env file once the sandbox has written
// it, or fails with the sandbox's stderr.
func readEnvFile(t *testing.T, path string, timeout time.Duration, stderr func() string) []byte {
	t.Helper()
	var env []byte
	sandboxtest.EventuallyNoError(t, timeout, "the env file", func() error {
		var err error
		if env, err = os.ReadFile(path); err == nil && len(env) == 0 {
			err = errors.New("the env file is empty")
		}
		if err != nil {
			return fmt.Errorf("%w; stderr: %s", err, stderr())
		}
		return nil
	})
	return env
}

// stopsOnSignal cancels a running command's context, as SIGINT and SIGTERM
// do through signal.NotifyContext, and fails unless it exits 0 within 10s.
func stopsOnSignal(t *testing.T, cancel context.CancelFunc, done <-chan int, stderr func() string, what string) {
	t.Helper()
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d, want 0; stderr: %s", code, stderr())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not stop within 10s of its signal", what)
	}
}
