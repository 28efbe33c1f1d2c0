package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/aws/smithy-go/logging"

	"github.com/replaudit/replaudit/internal/query"
)

func TestExitCodesComeFromTheErrorTheyCarry(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"no error", context.Background(), nil, exitOK},
		{"a usage error", context.Background(), usageErrorf("--since is required"), exitUsage},
		{"a wrapped usage sentinel", context.Background(), fmt.Errorf("%w: list writes table", errUsage), exitUsage},
		{"internal/query's usage sentinel, wrapped", context.Background(), fmt.Errorf("--since: %w", fmt.Errorf("%w: not a time", query.ErrUsage)), exitUsage},
		{"FAILED items found, wrapped", context.Background(), fmt.Errorf("export: %w", errFoundFailed), exitFail},
		{"versions to re-drive", context.Background(), errNeedsReplication, exitFail},
		{"an AWS error", context.Background(), errors.New("read table: AccessDenied"), exitCannotFinish},
		{"anything, once interrupted", canceled, usageErrorf("late"), exitInterrupted},
		{"nothing wrong, though interrupted", canceled, nil, exitOK},
	}
	for _, c := range cases {
		if got := exitCode(c.ctx, c.err); got != c.want {
			t.Errorf("%s: got exit %d, want %d", c.name, got, c.want)
		}
	}
	if !errors.Is(usageErrorf("x"), errUsage) || errors.Is(errFoundFailed, errUsage) {
		t.Error("errors.Is(err, errUsage) should hold for usage errors alone")
	}
}

func TestErrorMessagesDropTheSentinelWordOnly(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: export writes csv or jsonl, not %q", errUsage, "usage: x"), `export writes csv or jsonl, not "usage: x"`},
		{fmt.Errorf("--since: %w", fmt.Errorf("%w: %q is not a time", query.ErrUsage, "usage: ")), `--since: "usage: " is not a time`},
		{usageErrorf("key usage: kept"), "key usage: kept"},
		{errors.New("usage: not a sentinel, kept"), "usage: not a sentinel, kept"},
	}
	for _, c := range cases {
		if got := message(c.err); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestInterruptedCommandExits130InOneLine(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // what SIGINT does through signal.NotifyContext in main
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"list", "--table", "ledger", "--since", "1h"}, &out, &errOut)
	if code != exitInterrupted || errOut.String() != "replaudit list: interrupted\n" {
		t.Errorf("got exit %d %q, want exit 130 and %q", code, errOut.String(), "replaudit list: interrupted\n")
	}
}

func TestVersionAndHelpCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &out, &errOut); code != exitOK || !strings.HasPrefix(out.String(), "replaudit ") {
		t.Errorf("--version: exit %d %q", code, out.String())
	}
	for _, c := range []struct {
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, true, "v1.4.0"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "true"}}}, true, "devel 0123abc (modified)"},
		{&debug.BuildInfo{}, true, "devel"},
		{nil, false, "devel"},
	} {
		if got := version(c.bi, c.ok); got != c.want {
			t.Errorf("got version %q, want %q", got, c.want)
		}
	}
	for _, c := range commands {
		var viaHelp, viaFlag bytes.Buffer
		code := run(context.Background(), []string{"help", c.name}, &viaHelp, &errOut)
		run(context.Background(), []string{c.name, "--help"}, &viaFlag, &errOut)
		if code != exitOK || viaHelp.String() != viaFlag.String() {
			t.Errorf("help %s: exit %d, and\n%s\nwant what %s --help says:\n%s", c.name, code, viaHelp.String(), c.name, viaFlag.String())
		}
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"help", "nope"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "commands: status") {
		t.Errorf("help nope: exit %d %q, want 2 and the commands", code, errOut.String())
	}
}

func TestHelpShowsNoArgumentForABoolAndNoEmptyFlags(t *testing.T) {
	for _, c := range commands {
		var out, errOut bytes.Buffer
		run(context.Background(), []string{c.name, "--help"}, &out, &errOut)
		help := out.String()
		debugOff := false
		fs, _ := c.flagSet(&debugOff)
		if !hasFlags(fs) && strings.Contains(help, "Flags:") {
			t.Errorf("%s --help shows a Flags: section without flags:\n%s", c.name, help)
		}
		fs.VisitAll(func(f *flag.Flag) {
			if isBool(f) && !strings.Contains(help, "\n  -"+f.Name+"\n") {
				t.Errorf("%s --help: bool flag -%s shows an argument:\n%s", c.name, f.Name, help)
			}
		})
	}
	noFlags := command{name: "quiet", summary: "takes no flags", examples: "  replaudit quiet\n",
		flags: func(*flag.FlagSet) func(context.Context, io.Writer, io.Writer) error { return nil }}
	var out bytes.Buffer
	fs, _ := noFlags.flagSet(new(bool))
	noFlags.help(&out, fs)
	if want := "replaudit quiet: takes no flags\n\nExamples:\n  replaudit quiet\n"; out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Bool("dynamodb", true, "start dynalite (`make tools` installs it)")
	fs.String("env-file", "", "write to `FILE`")
	out.Reset()
	printFlags(&out, fs)
	if want := "  -dynamodb\n    \tstart dynalite (make tools installs it) (default true)\n  -env-file FILE\n    \twrite to FILE\n"; out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestCompletionCoversEveryCommandAndFlag(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"completion", shell}, &out, &errOut); code != exitOK {
			t.Fatalf("completion %s: exit %d %s", shell, code, errOut.String())
		}
		script := out.String()
		for _, c := range commands {
			if !strings.Contains(script, c.name) {
				t.Errorf("the %s script does not complete %s", shell, c.name)
			}
			fs, _ := c.flagSet(new(bool))
			fs.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(script, "--"+f.Name) && !strings.Contains(script, "-l "+f.Name+" ") {
					t.Errorf("the %s script does not complete %s --%s", shell, c.name, f.Name)
				}
			})
		}
		if path, err := exec.LookPath(shell); err == nil {
			check := exec.Command(path, "-n")
			if shell == "fish" {
				check = exec.Command(path, "--no-execute")
			}
			check.Stdin = strings.NewReader(script)
			if msg, err := check.CombinedOutput(); err != nil {
				t.Errorf("%s rejects the script: %v\n%s", shell, err, msg)
			}
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"completion", "powershell"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "bash, zsh or fish") {
		t.Errorf("completion powershell: exit %d %q", code, errOut.String())
	}
}

func TestSDKLogsOnlyWithDebug(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	lf := ledgerFlags{table: "ledger"}
	cfg, err := lf.config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Logger.(logging.Nop); !ok || cfg.ClientLogMode != 0 {
		t.Errorf("without --debug: logger %T, log mode %v; want logging.Nop and none", cfg.Logger, cfg.ClientLogMode)
	}
	var stderr bytes.Buffer
	cfg, err = lf.config(withSDKLog(context.Background(), &stderr))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger.Logf(logging.Debug, "Response has no supported checksum")
	if !cfg.ClientLogMode.IsRetries() || !cfg.ClientLogMode.IsRequest() || !strings.Contains(stderr.String(), "Response has no supported checksum") {
		t.Errorf("with --debug: log mode %v, stderr %q; want retries and requests logged to stderr", cfg.ClientLogMode, stderr.String())
	}
}

func TestStackDefaultsToSamconfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct{ name, toml, want string }{
		{"deploy wins over global", "version = 0.1\n[default.global.parameters]\nstack_name = \"g\"\n[default.deploy.parameters]\n  stack_name = 'd' # comment\n", "d"},
		{"global alone", "# stack_name = \"no\"\n[default.global.parameters]\nstack_name = \"replaudit\"\n", "replaudit"},
		{"another environment's is not ours", "[prod.deploy.parameters]\nstack_name = \"p\"\n", ""},
		{"no stack_name", "[default.deploy.parameters]\nresolve_s3 = true\n", ""},
	}
	for _, c := range cases {
		if got := samconfigStack(write("samconfig.toml", c.toml)); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if got := samconfigStack(filepath.Join(dir, "absent.toml")); got != "" {
		t.Errorf("no file: got %q", got)
	}

	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("REPLAUDIT_TABLE", "")
	write("samconfig.toml", "[default.global.parameters]\nstack_name = \"replaudit\"\n")
	t.Chdir(dir)
	for _, c := range []struct {
		name         string
		lf           ledgerFlags
		env          string
		stack, table string
	}{
		{"nothing given: samconfig's stack", ledgerFlags{}, "", "replaudit", ""},
		{"--table given", ledgerFlags{table: "t"}, "", "", "t"},
		{"--stack given", ledgerFlags{stack: "s"}, "", "s", ""},
		{"REPLAUDIT_TABLE set", ledgerFlags{}, "from-env", "", "from-env"},
	} {
		t.Setenv("REPLAUDIT_TABLE", c.env)
		lf := c.lf
		if _, err := lf.config(context.Background()); err != nil {
			t.Fatal(err)
		}
		if lf.stack != c.stack || lf.table != c.table {
			t.Errorf("%s: got stack %q table %q, want %q %q", c.name, lf.stack, lf.table, c.stack, c.table)
		}
	}
}

func TestReportFormats(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"report", "--format", "csv"}, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), `report writes text or json, not "csv"`) {
		t.Errorf("report --format csv: exit %d %q, want 2 naming the formats report writes", code, errOut.String())
	}

	env := seeded(t)
	out.Reset()
	code = run(context.Background(), []string{"report", "--env-file", env, "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-26T00:00:00Z",
		"--threshold", "10m", "--format", "json", "--exact"}, &out, &errOut)
	var r struct {
		Objects          int                   `json:"objects"`
		Expected         int                   `json:"expected"`
		WithinThreshold  int                   `json:"withinThreshold"`
		ThresholdSeconds float64               `json:"thresholdSeconds"`
		Verdicts         map[string]int        `json:"verdicts"`
		FailuresByReason map[string]int        `json:"failuresByReason"`
		LagSeconds       struct{ P50 float64 } `json:"lagSeconds"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("report --format json: %v\n%s", err, out.String())
	}
	if code != exitFail || r.Objects != 5 || r.Expected != 4 || r.WithinThreshold != 1 || r.ThresholdSeconds != 600 ||
		r.Verdicts["FAILED"] != 1 || r.FailuresByReason["DstPutObjectNotPermitted"] != 1 || r.LagSeconds.P50 != 40 {
		t.Errorf("exit %d, report %+v; want exit 1 and the figures the text report gives", code, r)
	}
}
