package s3events

import (
	"net/url"
	"strings"
)

// Types lists the event types S3 accepts in a notification configuration,
// with their s3: prefix.
var Types = []string{
	"s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
	"s3:ObjectCreated:CompleteMultipartUpload",
	"s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
	"s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed", "s3:ObjectRestore:Delete",
	"s3:ReducedRedundancyLostObject",
	"s3:Replication:*", "s3:Replication:OperationFailedReplication", "s3:Replication:OperationMissedThreshold",
	"s3:Replication:OperationReplicatedAfterThreshold", "s3:Replication:OperationNotTracked",
	"s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete", "s3:LifecycleExpiration:DeleteMarkerCreated",
	"s3:LifecycleTransition", "s3:IntelligentTiering",
	"s3:ObjectTagging:*", "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete",
	"s3:ObjectAcl:Put",
}

var known = func() map[string]bool {
	m := make(map[string]bool, len(Types))
	for _, t := range Types {
		m[t] = true
	}
	return m
}()

// Known reports whether S3 accepts this event type in a configuration.
func Known(eventType string) bool { return known[eventType] }

// Name strips the s3: prefix that samples carry and real records do not.
func Name(eventName string) string { return strings.TrimPrefix(eventName, "s3:") }

// Covers reports whether a configured type such as s3:ObjectCreated:* covers
// an event name such as ObjectCreated:Put. Either may carry the s3: prefix.
func Covers(configured, name string) bool {
	configured, name = Name(configured), Name(name)
	if group, ok := strings.CutSuffix(configured, "*"); ok {
		return strings.HasPrefix(name, group)
	}
	return configured == name
}

// KeyFilter is a configuration's prefix and suffix rules; empty matches all.
type KeyFilter struct {
	Prefix, Suffix string
}

// Matches reports whether a key passes the filter.
func (f KeyFilter) Matches(key string) bool {
	return strings.HasPrefix(key, f.Prefix) && strings.HasSuffix(key, f.Suffix)
}

// Overlaps reports whether some key passes both filters.
func (f KeyFilter) Overlaps(o KeyFilter) bool {
	prefixes := strings.HasPrefix(f.Prefix, o.Prefix) || strings.HasPrefix(o.Prefix, f.Prefix)
	suffixes := strings.HasSuffix(f.Suffix, o.Suffix) || strings.HasSuffix(o.Suffix, f.Suffix)
	return prefixes && suffixes
}

// Target is one notification configuration entry, whatever its destination.
type Target struct {
	ID     string
	ARN    string
	Events []string
	Filter KeyFilter
}

// Overlap reports whether S3 refuses to hold both targets: they share an
// event type (one covering the other) and some key passes both filters.
func Overlap(a, b Target) bool {
	for _, x := range a.Events {
		for _, y := range b.Events {
			if (Covers(x, y) || Covers(y, x)) && a.Filter.Overlaps(b.Filter) {
				return true
			}
		}
	}
	return false
}

// EncodeKey writes a key as S3 event records do: URL-encoded, with + for a
// space, and slashes left as they are.
func EncodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// DecodeKey reads a key from an event record.
func DecodeKey(encoded string) (string, error) {
	return url.QueryUnescape(encoded)
}
