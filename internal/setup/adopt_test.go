package setup_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/sandbox"
)

// replicationPolicy is the replication role's policy as the template
// writes it, for a source and its destinations ("*" for any bucket).
func replicationPolicy(source string, destinations ...string) sandbox.Policy {
	var replicas []string
	for _, d := range destinations {
		replicas = append(replicas, "arn:aws:s3:::"+d+"/*")
	}
	return sandbox.Policy{Name: "replicate", Statement: []sandbox.Statement{
		{Effect: "Allow", Action: []string{"s3:GetReplicationConfiguration", "s3:ListBucket"}, Resource: []string{"arn:aws:s3:::" + source}},
		{Effect: "Allow", Action: []string{"s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"},
			Resource: []string{"arn:aws:s3:::" + source + "/*"}},
		{Effect: "Allow", Action: []string{"s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"}, Resource: replicas},
	}}
}

// theirRule is the rule src replicates to theirs before replaudit comes.
var theirRule = types.ReplicationRule{
	ID: aws.String("their-rule"), Priority: aws.Int32(3), Status: types.ReplicationRuleStatusEnabled,
	Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("legal/")},
	DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
	Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::theirs")},
}

// replicatingSource gives src a rule of theirs, replicating to theirs
// with a role of theirs that has policies, and returns the role's ARN. dst,
// replaudit's destination, is not versioned yet: a refused request must
// leave it so.
func replicatingSource(t *testing.T, w *world, policies ...sandbox.Policy) string {
	t.Helper()
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", false)
	w.bucket(t, "theirs", "eu-west-1", true)
	role, err := w.sb.PutRole("service-role/their-replication", policies...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s3("us-east-1").PutBucketReplication(context.Background(), &s3.PutBucketReplicationInput{Bucket: aws.String("src"),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String(role), Rules: []types.ReplicationRule{theirRule}}}); err != nil {
		t.Fatal(err)
	}
	return role
}

// identityCalls lists the IAM and STS calls since the last ResetCalls.
func (w *world) identityCalls() []sandbox.Call {
	var out []sandbox.Call
	for _, c := range w.sb.Calls() {
		if c.Service == "iam" || c.Service == "sts" {
			out = append(out, c)
		}
	}
	return out
}

func adopting(role string) map[string]any {
	p := props("src", dest("dst", ""))
	p["RoleArn"] = role
	return p
}

func oneSentence(t *testing.T, reason string) {
	t.Helper()
	if n := strings.Count(strings.TrimSuffix(reason, "."), ". "); n > 0 {
		t.Errorf("%q is %d sentences, want one", reason, n+1)
	}
}

func TestARoleTheSourceAlreadyUsesIsAdoptedAndItsRulesKept(t *testing.T) {
	w := newWorld(t)
	role := replicatingSource(t, w, replicationPolicy("src", "theirs", "dst"))
	before := w.replication(t, "src", "us-east-1")
	w.sb.ResetCalls()

	r := w.send(t, cfn.RequestCreate, "", adopting(role), nil)
	mustSucceed(t, r)
	cfg := w.replication(t, "src", "us-east-1")
	if ids := ruleIDs(cfg); aws.ToString(cfg.Role) != role || len(ids) != 2 || ids[0] != "their-rule" || !sameJSON(cfg.Rules[0], before.Rules[0]) {
		t.Errorf("after Create: role %s, rules %s; want %s, their rule as it was and ours", aws.ToString(cfg.Role), js(cfg.Rules), role)
	}
	if got := w.versioning(t, "dst", "ap-south-1"); got != types.BucketVersioningStatusEnabled {
		t.Errorf("dst versioning: got %q", got)
	}
	if notes, _ := r.Data["Notes"].(string); !strings.Contains(notes, "RoleArn "+role+" is the role SourceBucket src already replicates with; it is adopted, and may replicate") {
		t.Errorf("Notes: %q", notes)
	}
	// The function's own role (the sandbox's caller) may pass it; the role
	// may replicate: three simulations of the role, one of the caller.
	simulated := map[string]int{}
	for _, c := range w.identityCalls() {
		if c.Operation == "SimulatePrincipalPolicy" {
			simulated[c.Resource] += c.Count
		}
	}
	caller := "arn:aws:iam::" + sandbox.Account + ":role/" + sandbox.CallerRole
	if simulated[role] != 3 || simulated[caller] != 1 {
		t.Errorf("simulations: %v, want 3 of %s and 1 of %s", simulated, role, caller)
	}

	t.Run("an Update checks it again and keeps their rule", func(t *testing.T) {
		p := adopting(role)
		p["Prefix"] = "data/"
		mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, p, adopting(role)))
		if cfg := w.replication(t, "src", "us-east-1"); aws.ToString(cfg.Role) != role || len(cfg.Rules) != 2 || aws.ToString(cfg.Rules[1].Filter.Prefix) != "data/" {
			t.Errorf("after Update: %s", js(cfg))
		}
	})
	t.Run("a Delete leaves their rule and their role as they were", func(t *testing.T) {
		mustSucceed(t, w.send(t, cfn.RequestDelete, r.PhysicalResourceID, adopting(role), nil))
		if got := w.replication(t, "src", "us-east-1"); !sameJSON(got, before) {
			t.Errorf("after Delete:\ngot  %s\nwant %s", js(got), js(before))
		}
	})
	t.Run("the stack's own new role is not simulated", func(t *testing.T) {
		w.bucket(t, "new-src", "us-east-1", true)
		w.sb.ResetCalls()
		mustSucceed(t, w.send(t, cfn.RequestCreate, "", props("new-src", dest("dst", "")), nil))
		for _, c := range w.identityCalls() {
			t.Errorf("a source without replication: %d %s %s on %q", c.Count, c.Service, c.Operation, c.Resource)
		}
	})
}

func TestAnAdoptedRoleThatMayNotReplicateToTheNewDestinationIsRefusedBeforeAnyWrite(t *testing.T) {
	for _, c := range []struct {
		name     string
		policies []sandbox.Policy
		want     string
	}{
		{
			name: "s3:ReplicateObject missing on the destination",
			policies: []sandbox.Policy{replicationPolicy("src", "theirs"), {Name: "tags", Statement: []sandbox.Statement{
				{Effect: "Allow", Action: []string{"s3:ReplicateDelete", "s3:ReplicateTags"}, Resource: []string{"arn:aws:s3:::dst/*"}}}}},
			want: "(s3:ReplicateObject on arn:aws:s3:::dst/*)",
		},
		{
			name: "an explicit deny, and a source permission missing",
			policies: []sandbox.Policy{{Name: "broad", Statement: []sandbox.Statement{
				{Effect: "Allow", Action: []string{"s3:Replicate*", "s3:GetReplicationConfiguration", "s3:GetObjectVersion*"}, Resource: []string{"arn:aws:s3:::*"}},
				{Effect: "Deny", Action: []string{"s3:ReplicateTags"}, Resource: []string{"arn:aws:s3:::dst/*"}},
			}}},
			want: "(s3:ReplicateTags on arn:aws:s3:::dst/*; s3:ListBucket on arn:aws:s3:::src)",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			role := replicatingSource(t, w, c.policies...)
			before := w.source(t)
			w.sb.ResetCalls()
			r := w.send(t, cfn.RequestCreate, "", adopting(role), nil)
			failedSaying(t, r, "RoleArn "+role+" is the role SourceBucket src already replicates with, and it lacks what replicating to dst needs "+c.want+
				": grant that to the role, then deploy again.")
			oneSentence(t, r.Reason)
			noWrites(t, w, "the refused Create")
			if after := w.source(t); after != before {
				t.Errorf("the buckets changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestAFunctionThatMayNotPassTheRoleIsRefused(t *testing.T) {
	w := newWorld(t)
	role := replicatingSource(t, w, replicationPolicy("src", "theirs", "dst"))
	// The function runs as a session of its role, whose ARN has a path:
	// only GetRole tells it.
	setupRole := func(passTo string) string {
		t.Helper()
		arn, err := w.sb.PutRole("service-role/replaudit-setup", sandbox.Policy{Name: "setup", Statement: []sandbox.Statement{
			{Effect: "Allow", Action: []string{"s3:*", "iam:GetRole", "iam:SimulatePrincipalPolicy"}, Resource: []string{"*"}},
			{Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: []string{role},
				Condition: map[string]map[string]string{"StringEquals": {"iam:PassedToService": passTo}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return arn
	}
	w.sb.SetCallerIdentity("arn:aws:sts::" + sandbox.Account + ":assumed-role/replaudit-setup/replaudit-ReplicationSetupFunction-x1y2")

	t.Run("a role it may pass to another service only", func(t *testing.T) {
		fn := setupRole("batchoperations.s3.amazonaws.com")
		before := w.source(t)
		w.sb.ResetCalls()
		r := w.send(t, cfn.RequestCreate, "", adopting(role), nil)
		failedSaying(t, r, "This function ("+fn+") may not pass RoleArn "+role+" to S3 (iam:PassRole with iam:PassedToService s3.amazonaws.com): set the stack's ExistingReplicationRoleArn to that role")
		oneSentence(t, r.Reason)
		noWrites(t, w, "the refused Create")
		if after := w.source(t); after != before {
			t.Errorf("the buckets changed:\nbefore %s\nafter  %s", before, after)
		}
	})
	t.Run("a role it may pass to S3", func(t *testing.T) {
		setupRole("s3.amazonaws.com")
		mustSucceed(t, w.send(t, cfn.RequestCreate, "", adopting(role), nil))
		if ids := ruleIDs(w.replication(t, "src", "us-east-1")); len(ids) != 2 {
			t.Errorf("rules: %v", ids)
		}
	})
}

func TestWithoutPermissionToSimulateTheRoleIsAdoptedWithAWarning(t *testing.T) {
	for _, c := range []struct {
		name   string
		fault  sandbox.Fault
		policy sandbox.Policy
		note   string
	}{
		// A role that may not replicate to dst: unchecked, it is used all
		// the same.
		{"IAM refuses every simulation", sandbox.Fault{Service: "iam", Kind: sandbox.FaultForbid}, replicationPolicy("src", "theirs"),
			"; it is adopted without checking whether this function may pass it to S3 or whether it may replicate to the destinations, as IAM's policy simulator was not available (AccessDenied)."},
		// Who the function is stays unknown; the role itself is checked.
		{"STS cannot be reached", sandbox.Fault{Service: "sts", Kind: sandbox.FaultUnavailable}, replicationPolicy("src", "theirs", "dst"),
			"; it is adopted without checking whether this function may pass it to S3, as IAM's policy simulator was not available (ServiceUnavailable)."},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			role := replicatingSource(t, w, c.policy)
			if err := w.sb.InjectFault(c.fault); err != nil {
				t.Fatal(err)
			}
			r := w.send(t, cfn.RequestCreate, "", adopting(role), nil)
			mustSucceed(t, r)
			if notes, _ := r.Data["Notes"].(string); !strings.Contains(notes, "RoleArn "+role+" is the role SourceBucket src already replicates with"+c.note) {
				t.Errorf("Notes: %q\nwant it to say %q", notes, c.note)
			}
			if !strings.Contains(w.logs.String(), `"level":"WARN","msg":"adopted replication role not checked`) {
				t.Errorf("no warning logged:\n%s", w.logs.String())
			}
			if cfg := w.replication(t, "src", "us-east-1"); aws.ToString(cfg.Role) != role || len(cfg.Rules) != 2 {
				t.Errorf("replication: %s", js(cfg))
			}
		})
	}
}

func TestADifferentRoleThanTheOneInUseIsStillRefused(t *testing.T) {
	w := newWorld(t)
	role := replicatingSource(t, w, replicationPolicy("src", "theirs", "dst"))
	before := w.source(t)
	w.sb.ResetCalls()
	r := w.send(t, cfn.RequestCreate, "", props("src", dest("dst", "")), nil)
	failedSaying(t, r, "SourceBucket src already replicates 1 rule(s) of its own with role "+role+"; a bucket has one replication role, so RoleArn "+roleArn+" would change theirs.")
	failedSaying(t, r, "Set RoleArn to "+role+" to adopt it (the stack's ExistingReplicationRoleArn)")
	noWrites(t, w, "the refused Create")
	for _, c := range w.identityCalls() {
		t.Errorf("the refusal simulated: %d %s %s on %q", c.Count, c.Service, c.Operation, c.Resource)
	}
	if after := w.source(t); after != before {
		t.Errorf("the buckets changed:\nbefore %s\nafter  %s", before, after)
	}
}
