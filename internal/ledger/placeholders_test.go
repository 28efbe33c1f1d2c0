package ledger_test

import (
	"testing"

	"github.com/replaudit/replaudit/internal/ledger"
)

func TestPlaceholdersNameEveryAttribute(t *testing.T) {
	cases := map[string]string{
		"ADD alerts :one SET bucket = :b, ttl = if_not_exists(ttl, :t)": "ADD #alerts :one SET #bucket = :b, #ttl = if_not_exists(#ttl, :t)",
		"ADD #label :h, open :h": "ADD #label :h, #open :h",
		"(digest = :c AND claimedAt < :e) OR attribute_not_exists(digest)": "(#digest = :c AND #claimedAt < :e) OR attribute_not_exists(#digest)",
		"REMOVE attn, attnSince": "REMOVE #attn, #attnSince",
	}
	for in, want := range cases {
		names := map[string]string{}
		if got := ledger.Placeholders(in, names); got != want {
			t.Errorf("placeholders(%q):\n got %q\nwant %q", in, got, want)
		}
		for k, v := range names {
			if k != "#"+v {
				t.Errorf("name %s maps to %s", k, v)
			}
		}
	}
}
