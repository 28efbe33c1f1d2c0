package sandbox_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/replaudit/replaudit/internal/sandbox"
)

func identityClients(t *testing.T, sb *sandbox.Sandbox) (*iam.Client, *sts.Client) {
	t.Helper()
	cfg, err := sb.AWSConfig(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	return iam.NewFromConfig(cfg), sts.NewFromConfig(cfg)
}

// simulate runs SimulatePrincipalPolicy through the SDK's paginator and
// returns each action on each resource with its decision.
func simulate(t *testing.T, c *iam.Client, in *iam.SimulatePrincipalPolicyInput, pageSize int32) map[string]iamtypes.EvaluationResult {
	t.Helper()
	out := map[string]iamtypes.EvaluationResult{}
	pages := iam.NewSimulatePrincipalPolicyPaginator(c, in, func(o *iam.SimulatePrincipalPolicyPaginatorOptions) { o.Limit = pageSize })
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.EvaluationResults {
			out[aws.ToString(r.EvalActionName)+" "+aws.ToString(r.EvalResourceName)] = r
		}
	}
	return out
}

func TestTheCallerIsASessionOfARoleTheSandboxKnows(t *testing.T) {
	e := start(t, sandbox.Options{})
	ic, sc := identityClients(t, e.sb)
	ctx := context.Background()
	who, err := sc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(who.Arn) != sandbox.CallerIdentity || aws.ToString(who.Account) != sandbox.Account ||
		!strings.HasSuffix(aws.ToString(who.UserId), ":sandbox") {
		t.Errorf("caller: got %s %s %s, want %s", aws.ToString(who.Arn), aws.ToString(who.Account), aws.ToString(who.UserId), sandbox.CallerIdentity)
	}
	r, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(sandbox.CallerRole)})
	if err != nil {
		t.Fatal(err)
	}
	got := simulate(t, ic, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: r.Role.Arn, ActionNames: []string{"iam:PassRole"},
		ResourceArns: []string{"arn:aws:iam::" + sandbox.Account + ":role/anything"}}, 0)
	if d := got["iam:PassRole arn:aws:iam::"+sandbox.Account+":role/anything"].EvalDecision; d != iamtypes.PolicyEvaluationDecisionTypeAllowed {
		t.Errorf("the default caller may not pass a role: %s", d)
	}

	e.sb.SetCallerIdentity("arn:aws:sts::" + sandbox.Account + ":assumed-role/replaudit-setup/fn")
	if who, _ := sc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); aws.ToString(who.Arn) != "arn:aws:sts::"+sandbox.Account+":assumed-role/replaudit-setup/fn" {
		t.Errorf("after SetCallerIdentity: got %s", aws.ToString(who.Arn))
	}
	e.sb.SetCallerIdentity("")
	if who, _ := sc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); aws.ToString(who.Arn) != sandbox.CallerIdentity {
		t.Errorf("after SetCallerIdentity(\"\"): got %s", aws.ToString(who.Arn))
	}
}

func TestGetRoleAnswersTheRolesARNWithItsPath(t *testing.T) {
	e := start(t, sandbox.Options{})
	ic, _ := identityClients(t, e.sb)
	ctx := context.Background()
	arn, err := e.sb.PutRole("service-role/replaudit-setup")
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:iam::" + sandbox.Account + ":role/service-role/replaudit-setup"; arn != want {
		t.Errorf("PutRole: got %s, want %s", arn, want)
	}
	r, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("replaudit-setup")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(r.Role.Arn) != arn || aws.ToString(r.Role.Path) != "/service-role/" || aws.ToString(r.Role.RoleName) != "replaudit-setup" || r.Role.CreateDate == nil {
		t.Errorf("role: %+v", r.Role)
	}
	_, err = ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nobody")})
	var missing *iamtypes.NoSuchEntityException
	if !errors.As(err, &missing) {
		t.Errorf("an unknown role: got %v, want NoSuchEntity", err)
	}
	// The simulator knows a role by its ARN, path included.
	_, err = ic.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String("arn:aws:iam::" + sandbox.Account + ":role/replaudit-setup"), ActionNames: []string{"s3:ListBucket"}})
	if !errors.As(err, &missing) {
		t.Errorf("a role's ARN without its path: got %v, want NoSuchEntity", err)
	}
}

func TestTheSimulatorEvaluatesARolesInlinePolicies(t *testing.T) {
	e := start(t, sandbox.Options{})
	ic, _ := identityClients(t, e.sb)
	arn, err := e.sb.PutRole("replication",
		sandbox.Policy{Name: "replicate", Statement: []sandbox.Statement{
			{Effect: "Allow", Action: []string{"s3:Replicate*"}, Resource: []string{"arn:aws:s3:::dst-?/*"}},
			{Effect: "Allow", Action: []string{"s3:getreplicationconfiguration"}, Resource: []string{"arn:aws:s3:::src"}},
		}},
		sandbox.Policy{Name: "guard", Statement: []sandbox.Statement{
			{Effect: "Deny", Action: []string{"s3:ReplicateDelete"}, Resource: []string{"arn:aws:s3:::dst-b/*"}},
			{Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: []string{"*"},
				Condition: map[string]map[string]string{"StringEquals": {"iam:PassedToService": "s3.amazonaws.com"}}},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	in := &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(arn),
		ActionNames:  []string{"s3:ReplicateObject", "s3:ReplicateDelete", "s3:GetReplicationConfiguration"},
		ResourceArns: []string{"arn:aws:s3:::dst-a/*", "arn:aws:s3:::dst-b/*", "arn:aws:s3:::dst-cc/*", "arn:aws:s3:::src"}}
	// One page per result: the SDK's paginator follows the markers.
	got := simulate(t, ic, in, 1)
	if len(got) != 12 {
		t.Errorf("got %d results, want one per action and resource, 12", len(got))
	}
	want := map[string]iamtypes.PolicyEvaluationDecisionType{
		"s3:ReplicateObject arn:aws:s3:::dst-a/*":             "allowed",
		"s3:ReplicateObject arn:aws:s3:::dst-b/*":             "allowed",
		"s3:ReplicateDelete arn:aws:s3:::dst-b/*":             "explicitDeny", // a Deny wins over the Allow
		"s3:ReplicateObject arn:aws:s3:::dst-cc/*":            "implicitDeny", // ? is one character
		"s3:ReplicateObject arn:aws:s3:::src":                 "implicitDeny",
		"s3:GetReplicationConfiguration arn:aws:s3:::src":     "allowed", // actions ignore case
		"s3:GetReplicationConfiguration arn:aws:s3:::dst-a/*": "implicitDeny",
	}
	for k, d := range want {
		if got[k].EvalDecision != d {
			t.Errorf("%s: got %q, want %q", k, got[k].EvalDecision, d)
		}
	}
	if m := got["s3:ReplicateDelete arn:aws:s3:::dst-b/*"].MatchedStatements; len(m) != 1 || aws.ToString(m[0].SourcePolicyId) != "guard" {
		t.Errorf("the explicit deny's statements: %+v", m)
	}

	passRole := func(entries ...iamtypes.ContextEntry) iamtypes.EvaluationResult {
		t.Helper()
		res := simulate(t, ic, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(arn), ActionNames: []string{"iam:PassRole"},
			ResourceArns: []string{arn}, ContextEntries: entries}, 0)
		return res["iam:PassRole "+arn]
	}
	entry := func(v string) iamtypes.ContextEntry {
		return iamtypes.ContextEntry{ContextKeyName: aws.String("iam:PassedToService"), ContextKeyType: iamtypes.ContextKeyTypeEnumString, ContextKeyValues: []string{v}}
	}
	if r := passRole(entry("s3.amazonaws.com")); r.EvalDecision != "allowed" {
		t.Errorf("PassRole to s3: got %s", r.EvalDecision)
	}
	if r := passRole(entry("lambda.amazonaws.com")); r.EvalDecision != "implicitDeny" {
		t.Errorf("PassRole to lambda: got %s", r.EvalDecision)
	}
	if r := passRole(); r.EvalDecision != "implicitDeny" || !slices.Equal(r.MissingContextValues, []string{"iam:PassedToService"}) {
		t.Errorf("PassRole without the context key: got %s, missing %v", r.EvalDecision, r.MissingContextValues)
	}
}

func TestPutRoleRefusesWhatTheSimulatorCannotEvaluate(t *testing.T) {
	e := start(t, sandbox.Options{})
	for name, p := range map[string]sandbox.Policy{
		"an effect that is neither Allow nor Deny": {Name: "p", Statement: []sandbox.Statement{{Effect: "allow", Action: []string{"*"}}}},
		"a condition operator other than StringEquals": {Name: "p", Statement: []sandbox.Statement{{Effect: "Allow", Action: []string{"*"},
			Condition: map[string]map[string]string{"StringLike": {"aws:SourceArn": "*"}}}}},
	} {
		if _, err := e.sb.PutRole("r", p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := e.sb.PutRole("a/b:c"); err == nil {
		t.Error("a role name with a colon: accepted")
	}
}

func TestAForbidFaultOnIAMRefusesEveryIAMCall(t *testing.T) {
	e := start(t, sandbox.Options{})
	ic, sc := identityClients(t, e.sb)
	ctx := context.Background()
	if err := e.sb.InjectFault(sandbox.Fault{Service: "iam", Kind: sandbox.FaultForbid}); err != nil {
		t.Fatal(err)
	}
	e.sb.ResetCalls()
	role := "arn:aws:iam::" + sandbox.Account + ":role/" + sandbox.CallerRole
	_, err := ic.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(role), ActionNames: []string{"iam:PassRole"}})
	if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "iam:SimulatePrincipalPolicy on resource: "+role) {
		t.Errorf("SimulatePrincipalPolicy under a forbid fault: got %v, want AccessDenied naming the action and the role", err)
	}
	if _, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(sandbox.CallerRole)}); apiCode(err) != "AccessDenied" {
		t.Errorf("GetRole under a forbid fault: got %v", err)
	}
	if _, err := sc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("STS under a forbid fault on IAM: %v", err)
	}
	calls := e.sb.Calls()
	if !slices.ContainsFunc(calls, func(c sandbox.Call) bool {
		return c.Service == "iam" && c.Operation == "SimulatePrincipalPolicy" && c.Resource == role && c.Count == 1
	}) {
		t.Errorf("calls: %+v, want the refused SimulatePrincipalPolicy counted once, on the role", calls)
	}

	e.sb.ClearFaultsMatching(sandbox.Fault{Service: "iam"})
	if _, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(sandbox.CallerRole)}); err != nil {
		t.Errorf("GetRole once the fault is lifted: %v", err)
	}
	for _, f := range []sandbox.Fault{{Kind: sandbox.FaultForbid}, {Kind: sandbox.FaultForbid, Bucket: "b", Service: "iam"}, {Kind: sandbox.FaultForbid, Service: "ec2"}} {
		if err := e.sb.InjectFault(f); err == nil {
			t.Errorf("%+v: accepted", f)
		}
	}
}

func TestEnvPointsIAMAndSTSAtTheSandbox(t *testing.T) {
	e := start(t, sandbox.Options{})
	got := map[string]string{}
	for _, kv := range e.sb.Env() {
		got[kv[0]] = kv[1]
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS"} {
		if got[k] != e.sb.Endpoint() {
			t.Errorf("%s: got %q, want %s", k, got[k], e.sb.Endpoint())
		}
	}
}
