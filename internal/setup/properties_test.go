package setup_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/replaudit/replaudit/internal/setup"
)

func TestEachInvalidPropertyGetsItsOwnSentence(t *testing.T) {
	raw := map[string]any{
		"SourceBucket":         "Not_A_Bucket",
		"RoleArn":              "role/replication",
		"Prefix":               "p/",
		"Tags":                 map[string]any{"team": "data"},
		"Metrics":              "maybe",
		"NotificationQueueArn": "arn:aws:sns:us-east-1:111122223333:topic",
		"Destinations": []any{
			map[string]any{"Bucket": "dst", "Region": "mars-1", "StorageClass": "COLD", "Account": "12", "Colour": "red", "CreateIfMissing": "yes"},
			map[string]any{"Region": "eu-west-1"},
		},
		"Frobnicate": "true",
	}
	_, err := setup.ParseProperties(raw)
	var inv *setup.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("got %v, want an InvalidError", err)
	}
	want := []string{
		`Unknown property "Frobnicate".`,
		`SourceBucket "Not_A_Bucket" is not a valid bucket name.`,
		`RoleArn "role/replication" is not an IAM role ARN.`,
		`Metrics must be true or false, not "maybe".`,
		`NotificationQueueArn "arn:aws:sns:us-east-1:111122223333:topic" is not an SQS queue ARN.`,
		`Destinations[0] has an unknown property "Colour".`,
		`Destinations[0].CreateIfMissing must be true or false, not "yes".`,
		`Destinations[0].Region "mars-1" is not an AWS region name such as eu-west-1.`,
		`Destinations[0].StorageClass "COLD" is not one of`,
		`Destinations[0].Account "12" is not a 12-digit account id.`,
		`Destinations[1].Bucket is required.`,
	}
	for _, w := range want {
		found := 0
		for _, p := range inv.Problems {
			if strings.HasPrefix(p, w) {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%d sentences say %q; problems:\n%s", found, w, strings.Join(inv.Problems, "\n"))
		}
	}
	if len(inv.Problems) != len(want) {
		t.Errorf("got %d sentences, want %d:\n%s", len(inv.Problems), len(want), strings.Join(inv.Problems, "\n"))
	}
	for _, p := range inv.Problems {
		if !strings.HasSuffix(p, ".") {
			t.Errorf("not a sentence: %q", p)
		}
	}
}

func TestPropertyRulesThatSpanProperties(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"SourceBucket": "src", "RoleArn": "arn:aws:iam::111122223333:role/r",
			"Destinations": []any{map[string]any{"Bucket": "dst"}}}
	}
	cases := []struct {
		name string
		mod  func(map[string]any)
		want string
	}{
		{"no destinations", func(m map[string]any) { delete(m, "Destinations") }, "Destinations needs at least one destination."},
		{"delete markers with tags", func(m map[string]any) {
			m["Tags"] = map[string]any{"k": "v"}
			m["DeleteMarkerReplication"] = "true"
		}, "DeleteMarkerReplication must be false with a Tags filter"},
		{"RTC without metrics", func(m map[string]any) { m["ReplicationTimeControl"], m["Metrics"] = "true", "false" }, "ReplicationTimeControl needs Metrics"},
		{"SSE-KMS without a key", func(m map[string]any) { m["ReplicateSseKmsObjects"] = "true" }, "Destinations[0] has no ReplicaKmsKeyArn"},
		{"a key without SSE-KMS", func(m map[string]any) {
			m["Destinations"] = []any{map[string]any{"Bucket": "dst", "ReplicaKmsKeyArn": "arn:aws:kms:ap-south-1:111122223333:key/abc"}}
		}, "ReplicateSseKmsObjects is false"},
		{"the source as a destination", func(m map[string]any) { m["Destinations"] = []any{map[string]any{"Bucket": "src"}} }, "cannot replicate to itself"},
		{"CreateIfMissing without a region", func(m map[string]any) {
			m["Destinations"] = []any{map[string]any{"Bucket": "dst", "CreateIfMissing": true}}
		}, "Destinations[0].Region is required with CreateIfMissing"},
		{"the same destination twice", func(m map[string]any) {
			m["Destinations"] = []any{map[string]any{"Bucket": "dst"}, map[string]any{"Bucket": "dst"}}
		}, `Destinations[1].Bucket "dst" is listed twice.`},
		{"destinations as a JSON string that is not a list", func(m map[string]any) { m["Destinations"] = "{oops" }, "Destinations must be a list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := base()
			c.mod(m)
			_, err := setup.ParseProperties(m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		p, err := setup.ParseProperties(base())
		if err != nil {
			t.Fatal(err)
		}
		if !p.DeleteMarkerReplication || !p.Metrics || p.ReplicationTimeControl || p.ReplicateSseKmsObjects {
			t.Errorf("defaults: got %+v", p)
		}
	})
	t.Run("a tag filter turns delete markers off by default", func(t *testing.T) {
		m := base()
		m["Tags"] = `{"team":"data"}`
		p, err := setup.ParseProperties(m)
		if err != nil || p.DeleteMarkerReplication || p.Tags["team"] != "data" {
			t.Errorf("got %+v, %v", p, err)
		}
	})
}

func TestPrefixesAreNeverTrimmed(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"SourceBucket": "src", "RoleArn": "arn:aws:iam::111122223333:role/r",
			"Destinations": []any{map[string]any{"Bucket": "dst"}}}
	}
	cases := []struct {
		name, prefix, inventory, want string
	}{
		{"a trailing space", "logs/ ", "", `Prefix "logs/ " ends with a space, which S3 would match literally as part of the key: remove it.`},
		{"a leading space", " logs/", "", `Prefix " logs/" starts with a space, which S3 would match literally as part of the key: remove it.`},
		{"spaces at both ends", " logs/ ", "", `Prefix " logs/ " starts and ends with a space, which S3 would match literally as part of the key: remove it.`},
		{"a trailing tab, shown escaped", "logs/\t", "", `Prefix "logs/\t" ends with whitespace, which S3 would match literally as part of the key: remove it.`},
		{"nothing but spaces", "  ", "", `Prefix "  " is nothing but whitespace, which S3 would match literally as part of the key: remove it.`},
		{"the inventory's", "", "inventory/ ", `Inventory.Prefix "inventory/ " ends with a space, which S3 would match literally as part of the key: remove it.`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := base()
			m["Prefix"] = c.prefix
			if c.inventory != "" {
				m["Inventory"] = map[string]any{"Bucket": "inv", "Prefix": c.inventory}
			}
			_, err := setup.ParseProperties(m)
			var inv *setup.InvalidError
			if !errors.As(err, &inv) || len(inv.Problems) != 1 || inv.Problems[0] != c.want {
				t.Errorf("got %v, want exactly %q", err, c.want)
			}
		})
	}
	t.Run("a space inside is kept", func(t *testing.T) {
		m := base()
		m["Prefix"] = "monthly reports/"
		if p, err := setup.ParseProperties(m); err != nil || p.Prefix != "monthly reports/" {
			t.Errorf("got %q, %v", p.Prefix, err)
		}
	})
}

func TestAllowedAccountsInEveryShapeCloudFormationMaySend(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want []string
		err  string
	}{
		{"a list of strings", []any{"111122223333", " 444455556666 "}, []string{"111122223333", "444455556666"}, ""},
		{"a JSON list in a string", `["111122223333"]`, []string{"111122223333"}, ""},
		{"a comma-separated string", "111122223333,444455556666", []string{"111122223333", "444455556666"}, ""},
		{"an empty string", "", nil, ""},
		{"a short id", []any{"12345"}, nil, `AllowedAccounts[0] "12345" is not a 12-digit account id.`},
		{"a number, which would lose leading zeros", []any{float64(11122223333)}, nil, `AllowedAccounts[0] must be a string, not 11122223333.`},
		{"a map", map[string]any{"a": "b"}, nil, `AllowedAccounts must be a list of 12-digit account ids, not {"a":"b"}.`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := setup.ParseProperties(map[string]any{"SourceBucket": "src", "RoleArn": "arn:aws:iam::111122223333:role/r",
				"Destinations": []any{map[string]any{"Bucket": "dst"}}, "AllowedAccounts": c.v})
			switch {
			case c.err != "" && (err == nil || err.Error() != c.err):
				t.Errorf("got %v, want %q", err, c.err)
			case c.err == "" && (err != nil || !slices.Equal(p.AllowedAccounts, c.want)):
				t.Errorf("got %q, %v; want %q", p.AllowedAccounts, err, c.want)
			}
		})
	}
}

func TestAdditionalSourcesEntries(t *testing.T) {
	for _, c := range []struct {
		entry string
		want  setup.Source
		fails bool
	}{
		{entry: "acme-logs>acme-logs-dr", want: setup.Source{Bucket: "acme-logs", Destination: "acme-logs-dr"}},
		{entry: "acme-img>acme-img-dr>photos/2026>q4/", want: setup.Source{Bucket: "acme-img", Destination: "acme-img-dr", Prefix: "photos/2026>q4/"}},
		{entry: "acme-logs", fails: true},
		{entry: "Acme>acme-dr", fails: true},
		{entry: ">acme-dr", fails: true},
	} {
		got, err := setup.ParseSource(c.entry)
		if (err != nil) != c.fails || got != c.want {
			t.Errorf("%q: %+v, %v", c.entry, got, err)
		}
	}
	// CloudFormation's &{} keeps letters and digits: the logical id the
	// template's loop gives the entry's resource.
	if got := setup.EntryLogicalID("acme-img>acme-img-dr>photos/"); got != "SourceReplicationacmeimgacmeimgdrphotos" {
		t.Errorf("logical id %s", got)
	}
}
