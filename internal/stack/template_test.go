package stack_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/replaudit/replaudit/internal/stack"
)

const root = "../.."

func load(t *testing.T) *stack.Template {
	t.Helper()
	tpl, err := stack.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestTemplateIsASAMTemplateWithGoGlobals(t *testing.T) {
	tpl := load(t)
	g := tpl.Globals.Function
	checks := []struct{ what, got, want string }{
		// LanguageExtensions first: SAM's transform must see its loops expanded.
		{"Transform", strings.Join(tpl.Transform, ","), "AWS::LanguageExtensions,AWS::Serverless-2016-10-31"},
		{"Runtime", g.Runtime, "provided.al2023"},
		{"Architectures", strings.Join(g.Architectures, ","), "arm64"},
		{"Handler", g.Handler, "bootstrap"},
		{"LogFormat", g.LoggingConfig.LogFormat, "JSON"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
	if len(tpl.Resources) == 0 {
		t.Error("the template has no resources")
	}
}

// makeFunctions reads the Makefile's LogicalId:folder list.
func makeFunctions(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("make", "-s", "-C", root, "--eval", "print-functions: ; @echo $(FUNCTIONS)", "print-functions").Output()
	if err != nil {
		t.Fatalf("read FUNCTIONS from the Makefile: %v", err)
	}
	m := map[string]string{}
	for _, pair := range strings.Fields(string(out)) {
		id, dir, ok := strings.Cut(pair, ":")
		if !ok {
			t.Fatalf("FUNCTIONS entry %q is not LogicalId:folder", pair)
		}
		m[id] = dir
	}
	return m
}

func TestEveryFunctionIsBuiltByTheMakefile(t *testing.T) {
	tpl := load(t)
	folders := makeFunctions(t)
	for _, id := range tpl.Functions() {
		if got := tpl.Resources[id].Metadata.BuildMethod; got != "makefile" {
			t.Errorf("%s: BuildMethod %q, want makefile", id, got)
		}
		dir, ok := folders[id]
		if !ok {
			t.Errorf("%s has no LogicalId:folder entry in the Makefile's FUNCTIONS", id)
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "functions", dir, "main.go")); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		out, err := exec.Command("make", "-n", "-C", root, "build-"+id, "ARTIFACTS_DIR=/tmp/artifacts").CombinedOutput()
		if err != nil {
			t.Errorf("make -n build-%s: %v\n%s", id, err, out)
			continue
		}
		want := regexp.MustCompile(`CGO_ENABLED=0 GOOS=linux GOARCH=arm64 .* build -tags lambda.norpc -trimpath -ldflags="-s -w" -o /tmp/artifacts/bootstrap ./functions/` + regexp.QuoteMeta(dir))
		if !want.Match(out) {
			t.Errorf("make build-%s runs:\n%s\nwant a %s", id, out, want)
		}
	}
	for id := range folders {
		if tpl.Resources[id].Type != stack.FunctionType {
			t.Errorf("the Makefile lists %s, which is not a function in template.yaml", id)
		}
	}
}

func TestBuildTargetRefusesAnUnknownFunction(t *testing.T) {
	out, err := exec.Command("make", "-s", "-C", root, "build-NoSuchFunction", "ARTIFACTS_DIR=/tmp/x").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "NoSuchFunction is not a function") {
		t.Errorf("got %v %s, want a clear refusal", err, out)
	}
}
