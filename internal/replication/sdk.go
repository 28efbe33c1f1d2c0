package replication

import (
	"reflect"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func status(on bool) string {
	if on {
		return "Enabled"
	}
	return "Disabled"
}

// ToSDK returns the rule in the V2 (Filter) schema PutBucketReplication takes.
func (r Rule) ToSDK() types.ReplicationRule {
	out := types.ReplicationRule{
		ID:                      aws.String(r.ID),
		Priority:                aws.Int32(r.Priority),
		Status:                  types.ReplicationRuleStatus(status(r.Enabled)),
		DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatus(status(r.DeleteMarkerReplication))},
		Filter:                  r.Filter.toSDK(),
		Destination:             &types.Destination{Bucket: aws.String(r.Destination.BucketARN)},
	}
	d := r.Destination
	if d.Account != "" {
		out.Destination.Account = aws.String(d.Account)
	}
	if d.StorageClass != "" {
		out.Destination.StorageClass = types.StorageClass(d.StorageClass)
	}
	if d.OwnerOverride {
		out.Destination.AccessControlTranslation = &types.AccessControlTranslation{Owner: types.OwnerOverrideDestination}
	}
	if d.ReplicaKmsKeyID != "" {
		out.Destination.EncryptionConfiguration = &types.EncryptionConfiguration{ReplicaKmsKeyID: aws.String(d.ReplicaKmsKeyID)}
	}
	if r.ReplicationTime {
		out.Destination.ReplicationTime = &types.ReplicationTime{
			Status: types.ReplicationTimeStatusEnabled, Time: &types.ReplicationTimeValue{Minutes: aws.Int32(RTCMinutes)},
		}
	}
	if r.Metrics {
		out.Destination.Metrics = &types.Metrics{
			Status: types.MetricsStatusEnabled, EventThreshold: &types.ReplicationTimeValue{Minutes: aws.Int32(RTCMinutes)},
		}
	}
	if r.SseKmsEncryptedObjects || r.ReplicaModifications {
		out.SourceSelectionCriteria = &types.SourceSelectionCriteria{}
		if r.SseKmsEncryptedObjects {
			out.SourceSelectionCriteria.SseKmsEncryptedObjects = &types.SseKmsEncryptedObjects{Status: types.SseKmsEncryptedObjectsStatusEnabled}
		}
		if r.ReplicaModifications {
			out.SourceSelectionCriteria.ReplicaModifications = &types.ReplicaModifications{Status: types.ReplicaModificationsStatusEnabled}
		}
	}
	return out
}

func (f Filter) toSDK() *types.ReplicationRuleFilter {
	keys := make([]string, 0, len(f.Tags))
	for k := range f.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tags := make([]types.Tag, len(keys))
	for i, k := range keys {
		tags[i] = types.Tag{Key: aws.String(k), Value: aws.String(f.Tags[k])}
	}
	switch {
	case len(tags) == 0:
		return &types.ReplicationRuleFilter{Prefix: aws.String(f.Prefix)}
	case len(tags) == 1 && f.Prefix == "":
		return &types.ReplicationRuleFilter{Tag: &tags[0]}
	default:
		return &types.ReplicationRuleFilter{And: &types.ReplicationRuleAndOperator{Prefix: aws.String(f.Prefix), Tags: tags}}
	}
}

// RuleFromSDK reads a rule as GetBucketReplication returns it.
func RuleFromSDK(x types.ReplicationRule) Rule {
	r := Rule{
		ID:       aws.ToString(x.ID),
		Priority: aws.ToInt32(x.Priority),
		Enabled:  x.Status == types.ReplicationRuleStatusEnabled,
	}
	//lint:ignore SA1019 the deprecated V1 Prefix is how a V1 rule shows itself
	if x.Prefix != nil && x.Filter == nil {
		r.LegacyPrefix = true
		r.Filter.Prefix = *x.Prefix //lint:ignore SA1019 as above
		r.DeleteMarkerReplication = true
	}
	if f := x.Filter; f != nil {
		r.Filter.Prefix = aws.ToString(f.Prefix)
		if f.Tag != nil {
			r.Filter.Tags = map[string]string{aws.ToString(f.Tag.Key): aws.ToString(f.Tag.Value)}
		}
		if f.And != nil {
			r.Filter.Prefix = aws.ToString(f.And.Prefix)
			r.Filter.Tags = map[string]string{}
			for _, t := range f.And.Tags {
				r.Filter.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		}
	}
	if x.DeleteMarkerReplication != nil {
		r.DeleteMarkerReplication = x.DeleteMarkerReplication.Status == types.DeleteMarkerReplicationStatusEnabled
	}
	if d := x.Destination; d != nil {
		r.Destination = Destination{
			BucketARN:    aws.ToString(d.Bucket),
			Account:      aws.ToString(d.Account),
			StorageClass: string(d.StorageClass),
		}
		r.Destination.OwnerOverride = d.AccessControlTranslation != nil && d.AccessControlTranslation.Owner == types.OwnerOverrideDestination
		if d.EncryptionConfiguration != nil {
			r.Destination.ReplicaKmsKeyID = aws.ToString(d.EncryptionConfiguration.ReplicaKmsKeyID)
		}
		r.ReplicationTime = d.ReplicationTime != nil && d.ReplicationTime.Status == types.ReplicationTimeStatusEnabled
		r.Metrics = d.Metrics != nil && d.Metrics.Status == types.MetricsStatusEnabled
	}
	if s := x.SourceSelectionCriteria; s != nil {
		r.SseKmsEncryptedObjects = s.SseKmsEncryptedObjects != nil && s.SseKmsEncryptedObjects.Status == types.SseKmsEncryptedObjectsStatusEnabled
		r.ReplicaModifications = s.ReplicaModifications != nil && s.ReplicaModifications.Status == types.ReplicaModificationsStatusEnabled
	}
	return r
}

// ConfigFromSDK reads a whole configuration; nil gives the empty Config.
func ConfigFromSDK(c *types.ReplicationConfiguration) Config {
	if c == nil {
		return Config{}
	}
	out := Config{Role: aws.ToString(c.Role)}
	for _, r := range c.Rules {
		out.Rules = append(out.Rules, RuleFromSDK(r))
	}
	return out
}

// Equal reports whether two configurations hold the same role and the same
// rules, whatever their order.
func (c Config) Equal(o Config) bool {
	if c.Role != o.Role || len(c.Rules) != len(o.Rules) {
		return false
	}
	byID := make(map[string]Rule, len(c.Rules))
	for _, r := range c.Rules {
		byID[r.ID] = r
	}
	for _, r := range o.Rules {
		mine, ok := byID[r.ID]
		if !ok || !reflect.DeepEqual(normal(mine), normal(r)) {
			return false
		}
	}
	return true
}

// normal makes an empty tag map and a nil one compare equal.
func normal(r Rule) Rule {
	if len(r.Filter.Tags) == 0 {
		r.Filter.Tags = nil
	}
	return r
}
