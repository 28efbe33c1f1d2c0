package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/replaudit/replaudit/internal/audit"
)

// fakeTerminal makes out stand for a terminal for the rest of the test, as
// isTerminal reports of a tty.
func fakeTerminal(t *testing.T, out io.Writer) {
	t.Helper()
	real := isTerminal
	isTerminal = func(w io.Writer) bool { return w == out || real(w) }
	t.Cleanup(func() { isTerminal = real })
}

// rawHidden returns the first control or format character in s other than
// a newline, or -1.
func rawHidden(s string) rune {
	for _, r := range s {
		if r != '\n' && unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return r
		}
	}
	return -1
}

// Printed raw, this key clears the screen and forges a green "ALL VERIFIED"
// line; its CR, bidi override, zero-width space, CSI and DEL do the rest.
const (
	forgingKey = "x\x1b[2J\x1b[1;32mALL VERIFIED\x1b[0m\r\u202Efdp.exe\u200B\u009b\x7f"
	// forgingShown is how each format shows its start, escaped.
	forgingShown = `x\u001b[2J\u001b[1;32mALL VERIFIED\u001b[0m`
)

func TestATerminalGetsKeysEscapedInEveryFormat(t *testing.T) {
	env := seeded(t, audit.Finding{Bucket: "acme-data", Key: forgingKey, VersionID: "v6", Destination: "acme-dr", Verdict: audit.Pending,
		Detail: "detail \x1b]0;owned\x07", EventTime: time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)})
	period := []string{"--env-file", env, "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-26T00:00:00Z"}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"list, csv", append([]string{"list", "--format", "csv"}, period...)},
		{"list, table", append([]string{"list", "--format", "table"}, period...)},
		{"list, its default on a terminal", append([]string{"list"}, period...)},
		{"list, json", append([]string{"list", "--format", "json"}, period...)},
		{"export, csv", append([]string{"export", "--format", "csv"}, period...)},
		{"export, jsonl", append([]string{"export", "--format", "jsonl"}, period...)},
		{"status", []string{"status", "s3://acme-data/" + forgingKey, "--env-file", env}},
		{"status, json", []string{"status", "s3://acme-data/" + forgingKey, "--env-file", env, "--format", "json"}},
		{"report", append([]string{"report"}, period...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			fakeTerminal(t, &out)
			run(context.Background(), c.args, &out, &errOut)
			if !strings.Contains(out.String(), forgingShown) {
				t.Errorf("got\n%q\nwant it to show the key as %q; stderr %s", out.String(), forgingShown, errOut.String())
			}
			if r := rawHidden(out.String()); r >= 0 {
				t.Errorf("got a raw %U on the terminal in\n%q\nwant every control and format character escaped", r, out.String())
			}
		})
	}
}

func TestAPipeOrAFileGetsKeysExact(t *testing.T) {
	env := seeded(t, audit.Finding{Bucket: "acme-data", Key: forgingKey, VersionID: "v6", Destination: "acme-dr", Verdict: audit.Pending,
		EventTime: time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)})
	period := []string{"--env-file", env, "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-26T00:00:00Z"}
	keys := func(t *testing.T, csvText []byte) []string {
		t.Helper()
		rows, err := csv.NewReader(bytes.NewReader(csvText)).ReadAll()
		if err != nil {
			t.Fatalf("read the CSV: %v\n%q", err, csvText)
		}
		var out []string
		for _, row := range rows[1:] {
			out = append(out, row[1])
		}
		return out
	}
	hasKey := func(keys []string) bool {
		for _, k := range keys {
			if k == forgingKey {
				return true
			}
		}
		return false
	}

	t.Run("list --format csv into a pipe", func(t *testing.T) {
		var out, errOut bytes.Buffer
		run(context.Background(), append([]string{"list", "--format", "csv"}, period...), &out, &errOut)
		if got := keys(t, out.Bytes()); !hasKey(got) {
			t.Errorf("got keys %q, want %q among them, exact", got, forgingKey)
		}
	})
	t.Run("export --out a file, run from a terminal", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "evidence.csv")
		var out, errOut bytes.Buffer
		fakeTerminal(t, &out)
		run(context.Background(), append([]string{"export", "--format", "csv", "--out", file}, period...), &out, &errOut)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v; stderr %s", err, errOut.String())
		}
		if got := keys(t, b); !hasKey(got) {
			t.Errorf("got keys %q, want %q among them, exact", got, forgingKey)
		}
	})
}
