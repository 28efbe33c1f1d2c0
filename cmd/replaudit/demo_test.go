package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

func TestDemoKeepLeavesTheStackForTheCLI(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.Dynalite)
	t.Chdir("../..") // where make tools put dynalite
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	before := children()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer // read only once the demo has returned
	errOut, stderr := stderrFile(t)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--keep", "--env-file", envFile}, &out, errOut)
	}()
	env := readEnvFile(t, envFile, 90*time.Second, stderr)
	for _, line := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		k, _, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		t.Setenv(k, os.Getenv(k)) // restored after the test: --env-file sets them
	}
	t.Setenv("REPLAUDIT_TABLE", "")
	var dynalite []string
	for _, pid := range children() {
		if !slices.Contains(before, pid) {
			dynalite = append(dynalite, pid)
		}
	}
	if len(dynalite) == 0 {
		t.Fatal("the demo's sandbox has no child process; dynalite should be one")
	}

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"list", "--env-file", envFile, "--stack", "replaudit-demo"},
			[]string{"acme-data-use1", "Q3 summary.pdf", "plage à midi.jpg", "売上_2026.csv", "big-export.parquet", "VERIFIED"}},
		{[]string{"status", "s3://acme-data-use1/reports/2026/Q4 draft.pdf", "--env-file", envFile, "--stack", "replaudit-demo"},
			[]string{"version ", "VERIFIED", "FAILED RESOLVED"}},
	} {
		var got, gotErr bytes.Buffer
		code := run(ctx, c.args, &got, &gotErr)
		if code != exitOK && code != exitFail {
			t.Fatalf("replaudit %v: exit %d, stderr %s", c.args, code, gotErr.String())
		}
		for _, w := range c.want {
			if !strings.Contains(got.String(), w) {
				t.Errorf("replaudit %v never says %q:\n%s", c.args, w, got.String())
			}
		}
	}

	stopsOnSignal(t, cancel, done, stderr, "the kept demo")
	story := out.String()
	for _, want := range []string{"Keep the sandbox running, with the stack replaudit-demo", ". " + envFile + "  # then: replaudit list --stack replaudit-demo"} {
		if !strings.Contains(story, want) {
			t.Errorf("the kept demo never says %q:\n%s", want, story)
		}
	}
	if strings.Contains(story, "sam delete") {
		t.Errorf("the kept demo deleted its stack:\n%s", story)
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("the env file outlived the sandbox: %v", err)
	}
	for _, pid := range dynalite {
		if alive(pid) {
			t.Errorf("child %s (dynalite) outlived the sandbox", pid)
		}
	}
}

func TestSandboxStackDeclaresALedger(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.Dynalite)
	t.Chdir("../..")
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errOut, stderr := stderrFile(t)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"sandbox", "--env-file", envFile, "--stack", "local"}, new(bytes.Buffer), errOut)
	}()
	env := readEnvFile(t, envFile, 30*time.Second, stderr)
	for _, line := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		k, _, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		t.Setenv(k, os.Getenv(k))
	}
	t.Setenv("REPLAUDIT_TABLE", "")
	var got, gotErr bytes.Buffer
	if code := run(ctx, []string{"list", "--env-file", envFile, "--stack", "local", "--format", "json"}, &got, &gotErr); code != exitOK || strings.TrimSpace(got.String()) != "[]" {
		t.Errorf("list --stack local: exit %d, got %q, want an empty list; stderr %s", code, got.String(), gotErr.String())
	}
	got.Reset()
	gotErr.Reset()
	if code := run(ctx, []string{"list", "--env-file", envFile, "--stack", "nope"}, &got, &gotErr); code != exitUsage {
		t.Errorf("list --stack nope: exit %d, want %d; stderr %s", code, exitUsage, gotErr.String())
	}
	stopsOnSignal(t, cancel, done, stderr, "the sandbox")
}

func TestSandboxStackNeedsDynamoDB(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"sandbox", "--stack", "local", "--dynamodb=false"}, &out, &errOut); code != exitUsage {
		t.Errorf("exit %d, want %d; stderr %s", code, exitUsage, errOut.String())
	}
}

// children returns the ids of this process's children: dynalite is one
// while a sandbox runs here.
func children() []string {
	var kids []string
	// A child belongs to the thread that started it: read every thread's list.
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		kids = append(kids, strings.Fields(string(b))...)
	}
	return kids
}

// alive reports whether a process still runs: not gone, and not a zombie.
func alive(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	return err == nil && !strings.Contains(string(b), ") Z ")
}
