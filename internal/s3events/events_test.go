package s3events_test

import (
	"testing"

	"github.com/replaudit/replaudit/internal/s3events"
)

func TestCovers(t *testing.T) {
	cases := []struct {
		configured, name string
		want             bool
	}{
		{"s3:ObjectCreated:*", "ObjectCreated:Put", true},
		{"s3:ObjectCreated:*", "s3:ObjectCreated:CompleteMultipartUpload", true},
		{"s3:ObjectCreated:Put", "ObjectCreated:Copy", false},
		{"s3:Replication:*", "Replication:OperationFailedReplication", true},
		{"s3:ObjectRemoved:*", "ObjectCreated:Put", false},
	}
	for _, c := range cases {
		if got := s3events.Covers(c.configured, c.name); got != c.want {
			t.Errorf("Covers(%q, %q): got %v, want %v", c.configured, c.name, got, c.want)
		}
	}
}

func TestOverlap(t *testing.T) {
	created := []string{"s3:ObjectCreated:*"}
	cases := []struct {
		name string
		a, b s3events.Target
		want bool
	}{
		{"no filters, same type", s3events.Target{Events: created}, s3events.Target{Events: []string{"s3:ObjectCreated:Put"}}, true},
		{"different types", s3events.Target{Events: created}, s3events.Target{Events: []string{"s3:ObjectRemoved:*"}}, false},
		{"nested prefixes", s3events.Target{Events: created, Filter: s3events.KeyFilter{Prefix: "a/"}}, s3events.Target{Events: created, Filter: s3events.KeyFilter{Prefix: "a/b/"}}, true},
		{"disjoint prefixes", s3events.Target{Events: created, Filter: s3events.KeyFilter{Prefix: "a/"}}, s3events.Target{Events: created, Filter: s3events.KeyFilter{Prefix: "b/"}}, false},
		{"disjoint suffixes", s3events.Target{Events: created, Filter: s3events.KeyFilter{Suffix: ".jpg"}}, s3events.Target{Events: created, Filter: s3events.KeyFilter{Suffix: ".png"}}, false},
	}
	for _, c := range cases {
		if got := s3events.Overlap(c.a, c.b); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestKeysRoundTrip(t *testing.T) {
	for key, encoded := range map[string]string{
		"photos/Happy Face.jpg": "photos/Happy+Face.jpg",
		"a+b%c":                 "a%2Bb%25c",
		"été/日本.csv":            "%C3%A9t%C3%A9/%E6%97%A5%E6%9C%AC.csv",
	} {
		if got := s3events.EncodeKey(key); got != encoded {
			t.Errorf("EncodeKey(%q): got %q, want %q", key, got, encoded)
		}
		if got, err := s3events.DecodeKey(encoded); err != nil || got != key {
			t.Errorf("DecodeKey(%q): got %q, %v, want %q", encoded, got, err, key)
		}
	}
}
