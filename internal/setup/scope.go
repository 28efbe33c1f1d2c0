package setup

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"
)

// Scope is what one setup function may change: the source buckets of its
// own stack. The package doc gives the rule.
type Scope struct {
	// Sources are the buckets a Create or Update may configure
	// (SOURCE_BUCKETS). None refuses every Create and Update.
	Sources []string
	// StackID, when set, is the one stack whose requests are served
	// (STACK_ID). It also lets that stack's Delete clean up a bucket no
	// longer listed, and its rollback Update confirm one.
	StackID string
}

// WithScope limits the setup to scope. Without it the setup configures
// any bucket a request names, and warns so with each request: that is for
// the sandbox and the demo, never for a deployed function.
func (s *Setup) WithScope(scope Scope) *Setup {
	s.scope = &scope
	return s
}

func refusal(format string, a ...any) error {
	return &InvalidError{Problems: []string{fmt.Sprintf(format, a...)}}
}

// fromStack reports whether ev comes from the stack the scope serves.
func (sc *Scope) fromStack(ev cfn.Event) bool { return sc.StackID == "" || ev.StackID == sc.StackID }

// admit decides whether a Create or Update may configure source. When it
// may only confirm what is there, as a rollback does, confirmOnly is the
// refusal to give should it need to write.
func (sc *Scope) admit(ev cfn.Event, source string) (confirmOnly, refused error) {
	switch {
	case sc == nil:
		return nil, nil
	case !sc.fromStack(ev):
		return nil, refusal("StackId %s is not the stack this function serves (its STACK_ID), so it changes nothing for it.", ev.StackID)
	case len(sc.Sources) == 0:
		return nil, refusal("This function may configure no bucket: set SOURCE_BUCKETS on it to the stack's source buckets, comma-separated.")
	case slices.Contains(sc.Sources, source):
		return nil, nil
	case ev.RequestType == cfn.RequestUpdate && sc.StackID != "":
		// After the stack moved to another source, a rollback names the
		// old one again while SOURCE_BUCKETS may still name the new.
		return refusal("SourceBucket %q is not one of this stack's source buckets (SOURCE_BUCKETS): an Update may name it only to confirm what the stack already wrote there, as a rollback does, and this one would change it.", source), nil
	default:
		return nil, refusal("SourceBucket %q is not one of this stack's source buckets (SOURCE_BUCKETS), so this function may not configure it.", source)
	}
}

// keeps says why a Delete must leave source untouched, or "" when it may
// remove what its resource wrote there.
func (sc *Scope) keeps(ev cfn.Event, source string) string {
	switch {
	case sc == nil:
		return ""
	case !sc.fromStack(ev):
		return "the request comes from another stack than the one this function serves (STACK_ID)"
	case slices.Contains(sc.Sources, source):
		return ""
	case sc.StackID != "":
		// This stack's own request: the rule IDs it removes derive from
		// the stack id, so only what this stack wrote goes.
		return ""
	default:
		return "the bucket is not in SOURCE_BUCKETS, and without STACK_ID a Delete from this stack cannot be told from a forged one; remove the stack's rules and notification entries there by hand"
	}
}

var stackARN = regexp.MustCompile(`^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:(\d{12}):stack/.+$`)

// arnAccount returns the account id of an ARN, and arnRegion its region.
func arnAccount(arn string) string { return arnField(arn, 4) }

func arnRegion(arn string) string { return arnField(arn, 3) }

func arnField(arn string, i int) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[i]
}

// accountProblems names, one sentence each, the role, queue and KMS keys
// of p that live in an account that is neither the stack's nor listed in
// AllowedAccounts. A destination's key may also be in the destination's
// Account: cross-account replication encrypts with the destination's key.
func accountProblems(p Properties, stackID string) []string {
	m := stackARN.FindStringSubmatch(stackID)
	if m == nil {
		return []string{fmt.Sprintf("StackId %q is not a CloudFormation stack ARN, so the stack's account is unknown.", stackID)}
	}
	stack := m[1]
	var out []string
	check := func(label, arn, destination string) {
		a := arnAccount(arn)
		if arn == "" || a == stack || a == destination || slices.Contains(p.AllowedAccounts, a) {
			return
		}
		whose := fmt.Sprintf("not the stack's (%s)", stack)
		if destination != "" {
			whose = fmt.Sprintf("neither the stack's (%s) nor the destination's (%s)", stack, destination)
		}
		out = append(out, fmt.Sprintf("%s %q is in account %s, %s: list %s in AllowedAccounts if that is meant.", label, arn, a, whose, a))
	}
	check("RoleArn", p.RoleArn, "")
	check("NotificationQueueArn", p.NotificationQueueArn, "")
	for i, d := range p.Destinations {
		check(fmt.Sprintf("Destinations[%d].ReplicaKmsKeyArn", i), d.ReplicaKmsKeyArn, d.Account)
	}
	return out
}
