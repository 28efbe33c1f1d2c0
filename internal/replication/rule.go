package replication

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// RTCMinutes is the only threshold S3 accepts for Replication Time Control
// and for replication metrics.
const RTCMinutes = 15

// MaxRules is the most rules one replication configuration may hold.
const MaxRules = 1000

// Filter selects the keys a rule applies to. The zero Filter matches every
// key. Tags must all be present with equal values.
type Filter struct {
	Prefix string
	Tags   map[string]string
}

// Matches reports whether an object with this key and these tags is selected.
func (f Filter) Matches(key string, tags map[string]string) bool {
	if !strings.HasPrefix(key, f.Prefix) {
		return false
	}
	for k, v := range f.Tags {
		if got, ok := tags[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Overlaps reports whether some object could match both filters: one prefix
// extends the other and no tag key is required with two different values.
func (f Filter) Overlaps(o Filter) bool {
	if !strings.HasPrefix(f.Prefix, o.Prefix) && !strings.HasPrefix(o.Prefix, f.Prefix) {
		return false
	}
	for k, v := range f.Tags {
		if ov, ok := o.Tags[k]; ok && ov != v {
			return false
		}
	}
	return true
}

// Destination is where a rule copies objects to.
type Destination struct {
	BucketARN       string
	Account         string
	StorageClass    string
	ReplicaKmsKeyID string
	// OwnerOverride is AccessControlTranslation{Owner: Destination}.
	OwnerOverride bool
}

// Bucket is the destination bucket's name, taken from its ARN.
func (d Destination) Bucket() string {
	name, _ := BucketFromARN(d.BucketARN)
	return name
}

// Rule is one replication rule in the V2 (Filter) schema.
type Rule struct {
	ID       string
	Priority int32
	Enabled  bool
	Filter   Filter
	// LegacyPrefix marks a V1 rule that names a Prefix outside a Filter.
	LegacyPrefix bool

	Destination Destination

	DeleteMarkerReplication bool
	// ReplicationTime is Replication Time Control (RTC), always 15 minutes.
	ReplicationTime bool
	Metrics         bool
	// SseKmsEncryptedObjects replicates SSE-KMS objects; it needs a
	// Destination.ReplicaKmsKeyID.
	SseKmsEncryptedObjects bool
	ReplicaModifications   bool
}

// Config is a bucket's whole replication configuration: one role, 1 to 1000
// rules.
type Config struct {
	Role  string
	Rules []Rule
}

// BucketARN returns the ARN S3 uses for a bucket name.
func BucketARN(name string) string { return "arn:aws:s3:::" + name }

// BucketFromARN returns the bucket name in an S3 bucket ARN.
func BucketFromARN(arn string) (string, error) {
	name, ok := strings.CutPrefix(arn, "arn:aws:s3:::")
	if !ok {
		for _, p := range []string{"arn:aws-cn:s3:::", "arn:aws-us-gov:s3:::"} {
			if name, ok = strings.CutPrefix(arn, p); ok {
				break
			}
		}
	}
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("%q is not an S3 bucket ARN", arn)
	}
	return name, nil
}

// ErrInvalid wraps every validation failure, so callers can tell a bad
// configuration from an I/O error.
var ErrInvalid = errors.New("invalid replication configuration")

// Validate checks the configuration as S3's PutBucketReplication does, short
// of the checks that need the buckets themselves (versioning, existence).
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if c.Role == "" {
		return bad("a Role is required")
	}
	if len(c.Rules) == 0 || len(c.Rules) > MaxRules {
		return bad("a configuration holds 1 to %d rules, not %d", MaxRules, len(c.Rules))
	}
	ids := map[string]bool{}
	for i, r := range c.Rules {
		if len(r.ID) > 255 {
			return bad("rule %d: ID is longer than 255 characters", i+1)
		}
		if r.ID != "" && ids[r.ID] {
			return bad("rule ID %q is not unique", r.ID)
		}
		ids[r.ID] = true
		if _, err := BucketFromARN(r.Destination.BucketARN); err != nil {
			return bad("rule %q: destination bucket: %v", r.ID, err)
		}
		if r.DeleteMarkerReplication && len(r.Filter.Tags) > 0 {
			return bad("rule %q: delete marker replication is not supported with a tag filter", r.ID)
		}
		if r.ReplicationTime && !r.Metrics {
			return bad("rule %q: Replication Time Control needs Metrics enabled", r.ID)
		}
		if r.SseKmsEncryptedObjects != (r.Destination.ReplicaKmsKeyID != "") {
			return bad("rule %q: SseKmsEncryptedObjects and ReplicaKmsKeyID go together", r.ID)
		}
	}
	for i, a := range c.Rules {
		for _, b := range c.Rules[i+1:] {
			if a.LegacyPrefix || b.LegacyPrefix {
				if a.LegacyPrefix != b.LegacyPrefix {
					return bad("rules %q and %q mix the V1 Prefix and V2 Filter schemas", a.ID, b.ID)
				}
				continue
			}
			if a.Priority == b.Priority && a.Filter.Overlaps(b.Filter) &&
				a.Destination.Bucket() == b.Destination.Bucket() {
				return bad("rules %q and %q overlap with the same priority %d", a.ID, b.ID, a.Priority)
			}
		}
	}
	return nil
}

// Match returns the rules that apply to an object: for each destination
// bucket, the enabled matching rule with the highest priority. The result is
// ordered by destination bucket name. The reconciler calls it once an
// inventory row, so it allocates only for several destinations: one rule
// is returned as a slice of the configuration's own, which callers must
// not modify (appending copies it).
func (c Config) Match(key string, tags map[string]string) []Rule {
	return c.best(func(f Filter) bool { return f.Matches(key, tags) })
}

// MatchTagged returns, as Match does, the rules only an object's tags
// could decide: the enabled rules that filter on tags and whose prefix
// covers the key, for an object whose tags are not known.
func (c Config) MatchTagged(key string) []Rule {
	return c.best(func(f Filter) bool { return len(f.Tags) > 0 && strings.HasPrefix(key, f.Prefix) })
}

// best keeps, for each destination, the enabled rule of highest priority
// whose filter passes.
func (c Config) best(passes func(Filter) bool) []Rule {
	first, n := -1, 0
	for i := range c.Rules {
		if c.Rules[i].Enabled && passes(c.Rules[i].Filter) {
			if n == 0 {
				first = i
			}
			n++
		}
	}
	switch n {
	case 0:
		return nil
	case 1:
		return c.Rules[first : first+1 : first+1]
	}
	var out []Rule
	for _, r := range c.Rules[first:] {
		if !r.Enabled || !passes(r.Filter) {
			continue
		}
		dst := r.Destination.Bucket()
		j := slices.IndexFunc(out, func(o Rule) bool { return o.Destination.Bucket() == dst })
		switch {
		case j < 0:
			out = append(out, r)
		case r.Priority > out[j].Priority:
			out[j] = r
		}
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.Destination.Bucket(), b.Destination.Bucket()) })
	return out
}
