package reconcile

import (
	"strings"
	"time"

	"github.com/replaudit/replaudit/internal/inventory"
	"github.com/replaudit/replaudit/internal/replication"
)

// Class is what an inventory row is, for replication.
type Class string

// The classes.
const (
	// Replicated: COMPLETED, or a REPLICA kept in the source.
	Replicated Class = "REPLICATED"
	// Failed: S3 reports the replication FAILED.
	Failed Class = "FAILED"
	// Pending: still PENDING, within its allowance.
	Pending Class = "PENDING"
	// LongPending: PENDING for longer than its size allows.
	LongPending Class = "LONG_PENDING"
	// NotReplicated: in scope, and no replication status: never
	// replicated, typically written before the rule.
	NotReplicated Class = "NOT_REPLICATED"
	// OutOfScope: no rule replaudit audits applies to the key.
	OutOfScope Class = "OUT_OF_SCOPE"
	// DeleteMarker: a delete marker, which carries no replication status.
	DeleteMarker Class = "DELETE_MARKER"
	// UnknownScope: no status, and only a rule that filters on tags could
	// apply; inventories do not list tags.
	UnknownScope Class = "SCOPE_UNKNOWN"
)

// Classes lists every class, in the summary's order.
var Classes = []Class{Replicated, Failed, LongPending, Pending, NotReplicated, OutOfScope, UnknownScope, DeleteMarker}

// Redrive reports whether S3 Batch Replication should replicate a version
// of the class: it never was, or it failed.
func (c Class) Redrive() bool { return c == NotReplicated || c == Failed }

// Problem reports whether the class needs attention.
func (c Class) Problem() bool { return c == Failed || c == LongPending || c == NotReplicated }

// Scope is what a run knows of the source's rules: the audited ones, and
// whether any audited rule filters on tags.
type Scope struct {
	Config  replication.Config
	Audited func(ruleID string) bool
	// Allowance is how long a version of a size may stay PENDING.
	Allowance func(size int64) time.Duration
}

// Classify decides a row's class as of the inventory's time, and the
// audited rules that apply to it, by key alone: the one model of scope the
// auditor uses.
func (s Scope) Classify(r inventory.Row, at time.Time) (Class, []replication.Rule) {
	if r.IsDeleteMarker {
		return DeleteMarker, nil
	}
	rules := s.audited(s.Config.Match(r.Key, nil))
	if len(rules) == 0 && r.ReplicationStatus != "" {
		// S3 replicated it under some rule: one that filters on tags,
		// which only the object's tags could name, is a candidate.
		rules = s.audited(s.Config.MatchTagged(r.Key))
	}
	switch st := r.ReplicationStatus; {
	case len(rules) == 0 && st == "":
		if s.tagRuleMayApply(r.Key) {
			return UnknownScope, nil
		}
		return OutOfScope, nil
	case len(rules) == 0:
		// S3 replicates it under a rule replaudit does not audit: not ours
		// to judge.
		return OutOfScope, nil
	case replication.IsCompleted(st), st == replication.StatusReplica:
		return Replicated, rules
	case st == replication.StatusFailed:
		return Failed, rules
	case st == replication.StatusPending:
		if s.Allowance != nil && at.Sub(r.LastModified) > s.Allowance(r.Size) {
			return LongPending, rules
		}
		return Pending, rules
	}
	return NotReplicated, rules
}

// audited keeps the rules a run audits. It copies them only when it drops
// one: when all are audited, as they typically are, it allocates nothing.
func (s Scope) audited(rules []replication.Rule) []replication.Rule {
	if s.Audited == nil {
		return rules
	}
	for i := range rules {
		if !s.Audited(rules[i].ID) {
			out := append(rules[:0:0], rules[:i]...)
			for _, rule := range rules[i+1:] {
				if s.Audited(rule.ID) {
					out = append(out, rule)
				}
			}
			return out
		}
	}
	return rules
}

// tagRuleMayApply reports whether an enabled, audited rule that filters on
// tags covers the key's prefix: only the object's tags could tell.
func (s Scope) tagRuleMayApply(key string) bool {
	for _, r := range s.Config.Rules {
		if r.Enabled && len(r.Filter.Tags) > 0 && strings.HasPrefix(key, r.Filter.Prefix) && (s.Audited == nil || s.Audited(r.ID)) {
			return true
		}
	}
	return false
}
