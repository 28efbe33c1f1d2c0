package replication_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/replaudit/replaudit/internal/replication"
)

func dest(bucket string) replication.Destination {
	return replication.Destination{BucketARN: replication.BucketARN(bucket)}
}

func TestFilterMatches(t *testing.T) {
	f := replication.Filter{Prefix: "docs/", Tags: map[string]string{"class": "audit"}}
	cases := []struct {
		key  string
		tags map[string]string
		want bool
	}{
		{"docs/a", map[string]string{"class": "audit", "team": "x"}, true},
		{"docs/a", map[string]string{"class": "other"}, false},
		{"docs/a", nil, false},
		{"logs/a", map[string]string{"class": "audit"}, false},
	}
	for _, c := range cases {
		if got := f.Matches(c.key, c.tags); got != c.want {
			t.Errorf("Matches(%q, %v): got %v, want %v", c.key, c.tags, got, c.want)
		}
	}
	if !(replication.Filter{}).Matches("anything", nil) {
		t.Error("the zero filter must match every key")
	}
}

func TestFilterOverlaps(t *testing.T) {
	cases := []struct {
		a, b replication.Filter
		want bool
	}{
		{replication.Filter{Prefix: "a/"}, replication.Filter{Prefix: "a/b/"}, true},
		{replication.Filter{Prefix: "a/"}, replication.Filter{Prefix: "b/"}, false},
		{replication.Filter{}, replication.Filter{Prefix: "b/"}, true},
		{replication.Filter{Tags: map[string]string{"k": "1"}}, replication.Filter{Tags: map[string]string{"k": "2"}}, false},
		{replication.Filter{Tags: map[string]string{"k": "1"}}, replication.Filter{Tags: map[string]string{"j": "2"}}, true},
	}
	for _, c := range cases {
		if got := c.a.Overlaps(c.b); got != c.want {
			t.Errorf("%+v overlaps %+v: got %v, want %v", c.a, c.b, got, c.want)
		}
		if got := c.b.Overlaps(c.a); got != c.want {
			t.Errorf("overlap is not symmetric for %+v and %+v", c.a, c.b)
		}
	}
}

func TestMatchPicksTheHighestPriorityRulePerDestination(t *testing.T) {
	cfg := replication.Config{Role: "arn:aws:iam::1:role/r", Rules: []replication.Rule{
		{ID: "low", Priority: 1, Enabled: true, Destination: dest("a")},
		{ID: "high", Priority: 9, Enabled: true, Filter: replication.Filter{Prefix: "x/"}, Destination: dest("a")},
		{ID: "other", Priority: 2, Enabled: true, Destination: dest("b")},
		{ID: "off", Priority: 99, Enabled: false, Destination: dest("a")},
		{ID: "elsewhere", Priority: 3, Enabled: true, Filter: replication.Filter{Prefix: "y/"}, Destination: dest("c")},
	}}
	var ids []string
	for _, r := range cfg.Match("x/1", nil) {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, ","); got != "high,other" {
		t.Errorf("got rules %s, want high,other", got)
	}
	if got := cfg.Match("z", nil); len(got) != 2 || got[0].ID != "low" {
		t.Errorf("a key outside x/: got %+v, want low and other", got)
	}
}

func TestValidate(t *testing.T) {
	ok := replication.Rule{ID: "r", Priority: 1, Enabled: true, Destination: dest("d")}
	with := func(mod func(*replication.Rule)) replication.Config {
		r := ok
		mod(&r)
		return replication.Config{Role: "role", Rules: []replication.Rule{r}}
	}
	bad := map[string]replication.Config{
		"no role":                          {Rules: []replication.Rule{ok}},
		"no rules":                         {Role: "role"},
		"a destination that is not an ARN": with(func(r *replication.Rule) { r.Destination.BucketARN = "d" }),
		"delete markers with a tag filter": with(func(r *replication.Rule) {
			r.DeleteMarkerReplication, r.Filter.Tags = true, map[string]string{"k": "v"}
		}),
		"RTC without metrics":               with(func(r *replication.Rule) { r.ReplicationTime = true }),
		"SSE-KMS objects without a key":     with(func(r *replication.Rule) { r.SseKmsEncryptedObjects = true }),
		"a replica key without SSE-KMS":     with(func(r *replication.Rule) { r.Destination.ReplicaKmsKeyID = "arn:aws:kms:..." }),
		"an ID longer than 255 characters":  with(func(r *replication.Rule) { r.ID = strings.Repeat("x", 256) }),
		"two rules with one ID":             {Role: "role", Rules: []replication.Rule{ok, ok}},
		"overlapping rules at one priority": {Role: "role", Rules: []replication.Rule{ok, {ID: "s", Priority: 1, Enabled: true, Destination: dest("d")}}},
	}
	for name, cfg := range bad {
		t.Run(name, func(t *testing.T) {
			if err := cfg.Validate(); !errors.Is(err, replication.ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
	good := replication.Config{Role: "role", Rules: []replication.Rule{ok, {ID: "s", Priority: 1, Enabled: true, Filter: replication.Filter{Prefix: "p/"}, Destination: dest("other")}}}
	if err := good.Validate(); err != nil {
		t.Errorf("one priority on two destinations: got %v, want no error", err)
	}
}

func TestBucketFromARN(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:s3:::my-bucket":        "my-bucket",
		"arn:aws-cn:s3:::china-bucket":  "china-bucket",
		"arn:aws:s3:::bucket/key":       "",
		"my-bucket":                     "",
		"arn:aws:sqs:us-east-1:1:queue": "",
	} {
		got, err := replication.BucketFromARN(arn)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("BucketFromARN(%q): got %q, %v; want %q", arn, got, err, want)
		}
	}
}

func TestIsCompletedAcceptsBothSpellings(t *testing.T) {
	for s, want := range map[string]bool{"COMPLETED": true, "COMPLETE": true, "PENDING": false, "": false} {
		if got := replication.IsCompleted(s); got != want {
			t.Errorf("IsCompleted(%q): got %v, want %v", s, got, want)
		}
	}
}

func ExampleConfig_Match() {
	cfg := replication.Config{Role: "arn:aws:iam::111122223333:role/replication", Rules: []replication.Rule{
		{ID: "logs", Priority: 1, Enabled: true, Filter: replication.Filter{Prefix: "logs/"},
			Destination: replication.Destination{BucketARN: "arn:aws:s3:::logs-replica"}},
		{ID: "everything", Priority: 2, Enabled: true,
			Destination: replication.Destination{BucketARN: "arn:aws:s3:::dr-replica"}},
	}}
	for _, r := range cfg.Match("logs/2026/11/29.gz", nil) {
		fmt.Println(r.ID, "->", r.Destination.Bucket())
	}
	// Output:
	// everything -> dr-replica
	// logs -> logs-replica
}

func TestRulesRoundTripThroughTheSDKShape(t *testing.T) {
	rules := []replication.Rule{
		{ID: "prefix", Priority: 1, Enabled: true, Filter: replication.Filter{Prefix: "logs/"}, DeleteMarkerReplication: true, Destination: dest("a")},
		{ID: "tag", Priority: 2, Enabled: false, Filter: replication.Filter{Tags: map[string]string{"k": "v"}}, Destination: dest("b")},
		{ID: "and", Priority: 3, Enabled: true, Filter: replication.Filter{Prefix: "p/", Tags: map[string]string{"a": "1", "b": "2"}},
			Destination: replication.Destination{BucketARN: replication.BucketARN("c"), Account: "111122223333", StorageClass: "GLACIER_IR",
				OwnerOverride: true, ReplicaKmsKeyID: "arn:aws:kms:ap-south-1:111122223333:key/k"},
			ReplicationTime: true, Metrics: true, SseKmsEncryptedObjects: true, ReplicaModifications: true},
	}
	for _, r := range rules {
		if got := replication.RuleFromSDK(r.ToSDK()); !(replication.Config{Rules: []replication.Rule{got}}).Equal(replication.Config{Rules: []replication.Rule{r}}) {
			t.Errorf("round trip of %s:\ngot  %+v\nwant %+v", r.ID, got, r)
		}
	}
}

func TestEveryDocumentedFailureReasonHasAFix(t *testing.T) {
	for _, r := range []string{
		"AssumeRoleNotPermitted", "DstBucketNotFound", "DstBucketUnversioned", "DstBucketObjectLockConfigMissing",
		"DstPutObjectNotPermitted", "DstPutTaggingNotPermitted", "DstPutAclNotPermitted", "DstDelObjNotPermitted",
		"DstMultipartInitNotPermitted", "DstMultipartUploadNotPermitted", "DstMultipartCompleteNotPermitted",
		"DstKmsKeyNotFound", "DstKmsKeyInvalidState", "SrcKmsKeyInvalidState",
		"SrcGetObjectNotPermitted", "SrcHeadObjectNotPermitted", "SrcGetTaggingNotPermitted", "SrcGetAclNotPermitted",
		"SrcObjectNotEligible", "SrcVersionNotFound", "DstVersionNotFound",
	} {
		meaning, fix := replication.Explain(r)
		if meaning == "" || fix == "" || strings.Contains(meaning, "S3 reported") {
			t.Errorf("%s: got %q / %q, want a specific meaning and fix", r, meaning, fix)
		}
	}
}
