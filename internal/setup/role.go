package setup

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/replaudit/replaudit/internal/replication"
)

// IAM holds the IAM calls the setup makes to check a role it adopts.
type IAM interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	SimulatePrincipalPolicy(context.Context, *iam.SimulatePrincipalPolicyInput, ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// STS holds the STS call the setup makes to know who it is.
type STS interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

var _ iam.SimulatePrincipalPolicyAPIClient = IAM(nil)

// WithRoleChecks lets the setup check a role it adopts through IAM's policy
// simulator: that this function may pass it to S3, and that it may
// replicate to the resource's destinations. Without it an adopted role is
// used unchecked, with a warning.
func (s *Setup) WithRoleChecks(identity STS, roles IAM) *Setup {
	s.identity, s.roles = identity, roles
	return s
}

// permission is one action on one resource.
type permission struct{ action, resource string }

// need is what a principal must be allowed: each action on each resource.
type need struct {
	actions, resources []string
}

// replicationNeeds is what a role needs to replicate the source to the
// resource's destinations, as the template grants the role it creates.
func replicationNeeds(p Properties) []need {
	src := replication.BucketARN(p.SourceBucket)
	dsts := make([]string, len(p.Destinations))
	for i, d := range p.Destinations {
		dsts[i] = replication.BucketARN(d.Bucket) + "/*"
	}
	return []need{
		{[]string{"s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"}, dsts},
		{[]string{"s3:GetReplicationConfiguration", "s3:ListBucket"}, []string{src}},
		{[]string{"s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"}, []string{src + "/*"}},
	}
}

// passedToS3 is the context of the iam:PassRole that PutBucketReplication
// makes.
var passedToS3 = []iamtypes.ContextEntry{{
	ContextKeyName: aws.String("iam:PassedToService"), ContextKeyType: iamtypes.ContextKeyTypeEnumString,
	ContextKeyValues: []string{"s3.amazonaws.com"},
}}

// checkAdoptedRole checks, before anything is written, a RoleArn that the
// source's replication configuration already uses: that this function may
// pass it to S3, and that it may replicate to the resource's destinations.
// It returns the problems that refuse the request, one sentence each, and
// a note for the response. A check that IAM will not run (no permission
// to simulate, IAM or STS unreachable) is skipped with a warning, in the
// log and in the note: the template grants the simulation only with
// ExistingReplicationRoleArn, and S3 itself refuses the write when this
// function may not pass the role.
func (s *Setup) checkAdoptedRole(ctx context.Context, p Properties) (problems []string, note string, err error) {
	adopted := fmt.Sprintf("RoleArn %s is the role SourceBucket %s already replicates with", p.RoleArn, p.SourceBucket)
	log := s.log.With("sourceBucket", p.SourceBucket, "roleArn", p.RoleArn)
	if s.identity == nil || s.roles == nil {
		log.Warn("adopted replication role used unchecked: this setup has no IAM or STS client to simulate its policies")
		return nil, adopted + "; it is adopted unchecked, as this setup cannot simulate IAM policies.", nil
	}
	var unchecked, why []string
	skip := func(what string, cause error) {
		unchecked = append(unchecked, what)
		c := code(cause)
		if c == "" {
			c = "no answer"
		}
		if !slices.Contains(why, c) {
			why = append(why, c)
		}
		log.Warn("adopted replication role not checked: IAM's policy simulator was refused or unreachable", "check", what, "error", cause)
	}

	caller, err := s.caller(ctx)
	var denied []permission
	if err == nil {
		denied, err = s.denied(ctx, caller, []need{{[]string{"iam:PassRole"}, []string{p.RoleArn}}}, passedToS3)
	}
	switch {
	case ctx.Err() != nil:
		return nil, "", ctx.Err()
	case err != nil:
		skip("whether this function may pass it to S3", err)
	case len(denied) > 0:
		problems = append(problems, fmt.Sprintf("This function (%s) may not pass RoleArn %s to S3 (iam:PassRole with iam:PassedToService s3.amazonaws.com): set the stack's ExistingReplicationRoleArn to that role, which grants it, or grant it to the function's role.",
			caller, p.RoleArn))
	}

	denied, err = s.denied(ctx, p.RoleArn, replicationNeeds(p), nil)
	switch {
	case ctx.Err() != nil:
		return nil, "", ctx.Err()
	case err != nil:
		skip("whether it may replicate to the destinations", err)
	case len(denied) > 0:
		problems = append(problems, fmt.Sprintf("%s, and it lacks what replicating to %s needs (%s): grant that to the role, then deploy again.",
			adopted, destinationList(p), describePermissions(denied)))
	}
	if len(problems) > 0 {
		return problems, "", nil
	}
	if len(unchecked) > 0 {
		return nil, fmt.Sprintf("%s; it is adopted without checking %s, as IAM's policy simulator was not available (%s).",
			adopted, strings.Join(unchecked, " or "), strings.Join(why, ", ")), nil
	}
	return nil, adopted + "; it is adopted, and may replicate to the destinations.", nil
}

// caller is the ARN of the principal this function runs as, as IAM's
// simulator takes it: an assumed role's session stands for its role, whose
// ARN (with its path) IAM tells.
func (s *Setup) caller(ctx context.Context) (string, error) {
	who, err := s.identity.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("who is calling: %w", err)
	}
	arn := aws.ToString(who.Arn)
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return "", fmt.Errorf("caller %q is not an ARN", arn)
	}
	switch {
	case parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/"):
		name, _, _ := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
		out, err := s.roles.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if err != nil {
			return "", fmt.Errorf("read the caller's role %s: %w", name, err)
		}
		return aws.ToString(out.Role.Arn), nil
	case parts[2] == "iam":
		return arn, nil
	}
	return "", fmt.Errorf("caller %s is neither a role nor a user, which IAM's simulator takes", arn)
}

// denied simulates principal's policies for what it needs and returns what
// IAM would not allow, in the order of needs.
func (s *Setup) denied(ctx context.Context, principal string, needs []need, entries []iamtypes.ContextEntry) ([]permission, error) {
	var out []permission
	for _, n := range needs {
		if len(n.resources) == 0 {
			continue
		}
		allowed := map[permission]bool{}
		pages := iam.NewSimulatePrincipalPolicyPaginator(s.roles, &iam.SimulatePrincipalPolicyInput{
			PolicySourceArn: aws.String(principal), ActionNames: n.actions, ResourceArns: n.resources, ContextEntries: entries,
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("simulate the policies of %s: %w", principal, err)
			}
			for _, r := range page.EvaluationResults {
				action := aws.ToString(r.EvalActionName)
				if len(r.ResourceSpecificResults) > 0 {
					for _, rr := range r.ResourceSpecificResults {
						allowed[permission{action, aws.ToString(rr.EvalResourceName)}] = rr.EvalResourceDecision == iamtypes.PolicyEvaluationDecisionTypeAllowed
					}
					continue
				}
				ok := r.EvalDecision == iamtypes.PolicyEvaluationDecisionTypeAllowed
				if res := aws.ToString(r.EvalResourceName); res != "*" {
					allowed[permission{action, res}] = ok
					continue
				}
				for _, res := range n.resources {
					allowed[permission{action, res}] = ok
				}
			}
		}
		for _, a := range n.actions {
			for _, res := range n.resources {
				if p := (permission{a, res}); !allowed[p] {
					out = append(out, p)
				}
			}
		}
	}
	return out, nil
}

// describePermissions names actions by resource, in order:
// "s3:ReplicateObject, s3:ReplicateTags on arn:aws:s3:::dst/*; ...".
func describePermissions(ps []permission) string {
	var resources []string
	actions := map[string][]string{}
	for _, p := range ps {
		if _, ok := actions[p.resource]; !ok {
			resources = append(resources, p.resource)
		}
		actions[p.resource] = append(actions[p.resource], p.action)
	}
	parts := make([]string, len(resources))
	for i, r := range resources {
		parts[i] = strings.Join(actions[r], ", ") + " on " + r
	}
	return strings.Join(parts, "; ")
}

func destinationList(p Properties) string {
	names := make([]string, len(p.Destinations))
	for i, d := range p.Destinations {
		names[i] = d.Bucket
	}
	return strings.Join(names, ", ")
}
