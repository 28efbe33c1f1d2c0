// Package sandboxtest helps tests use the sandbox's outside tools: a test
// that needs one is skipped where it is missing, and fails under make test,
// which installs it (REPLAUDIT_REQUIRE_TOOLS).
package sandboxtest

import (
	"os"
	"testing"

	"github.com/replaudit/replaudit/internal/sandbox"
)

// A Tool is an outside program the sandbox runs.
type Tool func() (string, error)

// The tools.
var (
	Dynalite Tool = sandbox.FindDynalite
	RIE      Tool = sandbox.FindRIE
)

// Need skips tb when a tool is missing, or fails it when make test, which
// installs the tools, runs it.
func Need(tb testing.TB, tools ...Tool) {
	tb.Helper()
	for _, tool := range tools {
		if _, err := tool(); err != nil {
			if os.Getenv("REPLAUDIT_REQUIRE_TOOLS") != "" {
				tb.Fatalf("%v", err)
			}
			tb.Skipf("%v; `make test` installs it and requires this test", err)
		}
	}
}
