package stack_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/replaudit/replaudit/internal/env"
	"github.com/replaudit/replaudit/internal/setup"
	"github.com/replaudit/replaudit/internal/stack"
)

// These tests hold template.yaml to what deploying it into a real account
// needs: what CloudFormation and SAM accept is checked by cfn-lint (make
// lint); what a review of the template found missing is checked here.

func TestEveryParameterHasADescriptionAndAConstraint(t *testing.T) {
	tpl := load(t)
	for name, p := range tpl.Parameters {
		if p.Description == "" {
			t.Errorf("%s has no description", name)
		}
		if !p.Constrained() {
			t.Errorf("%s has no constraint: allowed values, a pattern, bounds or a length", name)
		}
	}
}

func TestACreatedDestinationWithoutItsRegionIsRefusedAtChangeSetTime(t *testing.T) {
	tpl := load(t)
	for _, r := range tpl.Rules {
		if fmt.Sprint(r.RuleCondition) != "[CreateDestinationBucket true]" {
			continue
		}
		for _, a := range r.Assertions {
			if strings.Contains(fmt.Sprint(a.Assert), "DestinationRegion") && strings.Contains(a.AssertDescription, "DestinationRegion") {
				return
			}
		}
	}
	t.Error("no rule asserts DestinationRegion when CreateDestinationBucket is true")
}

// TestEveryFunctionLogsToAGroupOfTheStack: a group Lambda creates on its
// own never expires and outlives sam delete.
func TestEveryFunctionLogsToAGroupOfTheStack(t *testing.T) {
	tpl := load(t)
	for _, id := range tpl.Functions() {
		fn := tpl.Resources[id]
		lc, _ := fn.Properties["LoggingConfig"].(map[string]any)
		group := fmt.Sprint(lc["LogGroup"])
		g, ok := tpl.Resources[group]
		if !ok || g.Type != "AWS::Logs::LogGroup" {
			t.Errorf("%s logs to %q, not a log group of the stack", id, group)
			continue
		}
		if fmt.Sprint(g.Properties["RetentionInDays"]) != "LogRetentionDays" || g.Condition != fn.Condition || g.DeletionPolicy != "Delete" {
			t.Errorf("%s: retention %v, condition %q (the function's: %q), deletion %q", group, g.Properties["RetentionInDays"], g.Condition, fn.Condition, g.DeletionPolicy)
		}
	}
	if p := tpl.Parameters["LogRetentionDays"]; p.Default == nil || *p.Default != "90" {
		t.Errorf("LogRetentionDays defaults to %v, want 90", p.Default)
	}
}

// TestNoFunctionReservesConcurrency: an account whose concurrency quota is
// 10 cannot reserve any; one sweep at a time is a lease in the ledger.
func TestNoFunctionReservesConcurrency(t *testing.T) {
	tpl := load(t)
	for _, id := range tpl.Functions() {
		if v, ok := tpl.Resources[id].Properties["ReservedConcurrentExecutions"]; ok {
			t.Errorf("%s reserves %v", id, v)
		}
	}
}

// TestEachFunctionReceivesFromItsOwnQueuesOnly: SAM's SQS events attach
// an account-wide managed policy, so the event sources are declared, each
// bounded, and each function may receive from its own queues alone.
func TestEachFunctionReceivesFromItsOwnQueuesOnly(t *testing.T) {
	tpl := load(t)
	for _, id := range tpl.Functions() {
		events, _ := tpl.Resources[id].Properties["Events"].(map[string]any)
		for name, ev := range events {
			if typ := fmt.Sprint(ev.(map[string]any)["Type"]); typ == "SQS" {
				t.Errorf("%s's event %s is SAM's SQS event, with its account-wide policy", id, name)
			}
		}
	}
	queues := map[string][]string{} // function: the queues its event sources read
	for id, r := range tpl.Resources {
		if r.Type != "AWS::Lambda::EventSourceMapping" {
			continue
		}
		fn := fmt.Sprint(r.Properties["FunctionName"])
		queues[fn] = append(queues[fn], fmt.Sprint(r.Properties["EventSourceArn"]))
		scaling, _ := r.Properties["ScalingConfig"].(map[string]any)
		if scaling["MaximumConcurrency"] == nil {
			t.Errorf("%s has no MaximumConcurrency: a burst could take the account's concurrency", id)
		}
		if fmt.Sprint(r.Properties["FunctionResponseTypes"]) != "[ReportBatchItemFailures]" {
			t.Errorf("%s does not report batch item failures", id)
		}
		if r.Condition != tpl.Resources[fn].Condition {
			t.Errorf("%s has condition %q, its function %q", id, r.Condition, tpl.Resources[fn].Condition)
		}
	}
	if got := fmt.Sprint(tpl.Resources["SourceEvents"].Properties["ScalingConfig"]); got != "map[MaximumConcurrency:AuditorMaxConcurrency]" {
		t.Errorf("the auditor's concurrency: %s", got)
	}
	for fn, qs := range queues {
		sts := map[string]map[string]any{}
		statements(tpl.Resources[fn].Properties["Policies"], sts)
		var granted []string
		for sid, st := range sts {
			if !slices.Contains(actions(t, st), "sqs:ReceiveMessage") {
				continue
			}
			switch res := st["Resource"].(type) {
			case string:
				granted = append(granted, res)
			case []any:
				for _, r := range res {
					granted = append(granted, fmt.Sprint(r))
				}
			default:
				t.Errorf("%s %s: resource %v", fn, sid, res)
			}
		}
		slices.Sort(granted)
		slices.Sort(qs)
		if !slices.Equal(granted, qs) {
			t.Errorf("%s may receive from %v; its event sources read %v", fn, granted, qs)
		}
	}
	if len(queues) == 0 {
		t.Error("no event source mapping")
	}
}

func TestPassRoleAndServicePrincipalsAreConditioned(t *testing.T) {
	tpl := load(t)
	for id, r := range tpl.Resources {
		sts := map[string]map[string]any{}
		statements(r.Properties, sts)
		for sid, st := range sts {
			cond := fmt.Sprint(st["Condition"])
			if slices.Contains(actions(t, st), "iam:PassRole") && !strings.Contains(cond, "iam:PassedToService") {
				t.Errorf("%s %s passes a role to any service", id, sid)
			}
			if p, ok := st["Principal"].(map[string]any); ok && p["Service"] != nil && st["Effect"] == "Allow" &&
				!strings.Contains(cond, "aws:SourceAccount") {
				t.Errorf("%s %s lets %v act for any account", id, sid, p["Service"])
			}
		}
	}
}

// TestReplicationMayDecryptObjectsUnderABucketKey: with an S3 Bucket Key,
// the encryption context is the bucket's ARN, not the object's.
func TestReplicationMayDecryptObjectsUnderABucketKey(t *testing.T) {
	tpl := load(t)
	sts := map[string]map[string]any{}
	statements(tpl.Resources["ReplicationRole"].Properties, sts)
	cond, _ := sts["DecryptSourceObjects"]["Condition"].(map[string]any)
	like, _ := cond["StringLike"].(map[string]any)
	arns, _ := like["kms:EncryptionContext:aws:s3:arn"].([]any)
	got := fmt.Sprint(arns)
	if got != "[arn:${AWS::Partition}:s3:::${SourceBucketName} arn:${AWS::Partition}:s3:::${SourceBucketName}/*]" {
		t.Errorf("kms:Decrypt's encryption context allows %s; want the bucket and its objects", got)
	}
}

// TestDeadLetterQueuesKeepMessagesLongerAndOutliveTheStack: a message
// keeps its first enqueue time in the dead-letter queue, which must then
// keep it longer than its queue did.
func TestDeadLetterQueuesKeepMessagesLongerAndOutliveTheStack(t *testing.T) {
	tpl := load(t)
	retention := func(id string) int {
		n, err := strconv.Atoi(fmt.Sprint(tpl.Resources[id].Properties["MessageRetentionPeriod"]))
		if err != nil {
			t.Errorf("%s: retention %v", id, tpl.Resources[id].Properties["MessageRetentionPeriod"])
		}
		return n
	}
	dlqs := 0
	for id, r := range tpl.Resources {
		rp, ok := r.Properties["RedrivePolicy"].(map[string]any)
		if r.Type != "AWS::SQS::Queue" || !ok {
			continue
		}
		dlq := strings.TrimSuffix(fmt.Sprint(rp["deadLetterTargetArn"]), ".Arn")
		dlqs++
		if retention(dlq) <= retention(id) {
			t.Errorf("%s keeps messages %d s, its dead-letter queue %s only %d s", id, retention(id), dlq, retention(dlq))
		}
		if d := tpl.Resources[dlq]; d.DeletionPolicy != "Retain" || d.UpdateReplacePolicy != "Retain" {
			t.Errorf("%s: deletion %q, replacement %q; want both Retain", dlq, d.DeletionPolicy, d.UpdateReplacePolicy)
		}
	}
	if dlqs < 2 {
		t.Errorf("%d queues with a dead-letter queue", dlqs)
	}
}

func TestAlarmsWatchTheQueuesAgeAndTheSweepersSchedule(t *testing.T) {
	tpl := load(t)
	found := map[string]bool{}
	for id, r := range tpl.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		p := r.Properties
		if fmt.Sprint(p["AlarmActions"]) != "[AlertTopic]" {
			t.Errorf("%s does not tell on-call", id)
		}
		switch metric := fmt.Sprint(p["Namespace"], " ", p["MetricName"]); metric {
		case "AWS/SQS ApproximateAgeOfOldestMessage":
			found["age"] = strings.Contains(fmt.Sprint(p["Dimensions"]), "EventQueue.QueueName")
		case "AWS/Lambda Invocations":
			found["sweeper"] = strings.Contains(fmt.Sprint(p["Dimensions"]), "ReplicationSweeperFunction") &&
				p["ComparisonOperator"] == "LessThanThreshold" && p["TreatMissingData"] == "breaching"
		}
	}
	if !found["age"] || !found["sweeper"] {
		t.Errorf("alarms found: %v; want the event queue's age, and the sweeper not running (missing data breaching)", found)
	}
}

// TestTheDashboardIsJSONWithEveryPanel substitutes the dashboard's
// variables as CloudFormation would and parses the result.
func TestTheDashboardIsJSONWithEveryPanel(t *testing.T) {
	tpl := load(t)
	sub, ok := tpl.Resources["Dashboard"].Properties["DashboardBody"].([]any)
	if !ok || len(sub) != 2 {
		t.Fatalf("DashboardBody is not a !Sub with variables: %v", tpl.Resources["Dashboard"].Properties["DashboardBody"])
	}
	vars, _ := sub[1].(map[string]any)
	body := regexp.MustCompile(`\$\{([A-Za-z:]+)\}`).ReplaceAllStringFunc(fmt.Sprint(sub[0]), func(m string) string {
		name := m[2 : len(m)-1]
		if _, ok := vars[name]; !ok && !strings.HasPrefix(name, "AWS::") {
			t.Errorf("the dashboard names ${%s}, which is neither a variable nor a pseudo parameter", name)
		}
		return "value-of-" + strings.ReplaceAll(name, ":", "")
	})
	var d struct {
		Widgets []struct {
			Properties struct {
				Title   string  `json:"title"`
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v\n%s", err, body)
	}
	var titles []string
	metrics := ""
	for _, w := range d.Widgets {
		titles = append(titles, w.Properties.Title)
		metrics += fmt.Sprint(w.Properties.Metrics)
	}
	for _, want := range []string{"Findings Verdict VERIFIED", "ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible", "Errors", "Duration"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("no panel shows %s; panels: %v", want, titles)
		}
	}
}

// TestOnlyTheStacksFunctionsAndAlarmsMayPublish: a forged RESOLVED would
// silence on-call.
func TestOnlyTheStacksFunctionsAndAlarmsMayPublish(t *testing.T) {
	tpl := load(t)
	sts := map[string]map[string]any{}
	statements(tpl.Resources["AlertTopicPolicy"].Properties, sts)
	deny := sts["NobodyElsePublishes"]
	if deny["Effect"] != "Deny" || deny["Principal"] != "*" {
		t.Fatalf("no deny of everyone else: %v", deny)
	}
	allowed := fmt.Sprint(deny["Condition"])
	for _, id := range tpl.Functions() {
		fs := map[string]map[string]any{}
		statements(tpl.Resources[id].Properties["Policies"], fs)
		for _, st := range fs {
			if slices.Contains(actions(t, st), "sns:Publish") && !strings.Contains(allowed, id+"Role.Arn") {
				t.Errorf("%s publishes alerts, but the topic policy denies it", id)
			}
		}
	}
	if !strings.Contains(allowed, "aws:PrincipalServiceName:cloudwatch.amazonaws.com") {
		t.Errorf("the topic policy denies CloudWatch alarms: %s", allowed)
	}
}

// TestNamesDeriveFromTheStack: two stacks in one account and region never
// collide on a name the template fixes.
func TestNamesDeriveFromTheStack(t *testing.T) {
	tpl := load(t)
	named := regexp.MustCompile(`^(BucketName|QueueName|TableName|TopicName|FunctionName|RoleName|LogGroupName|AlarmName|DashboardName|Name|ScheduleName)$`)
	check := func(where string, v any) {
		if s := fmt.Sprint(v); !strings.Contains(s, "AWS::StackName") && !strings.Contains(s, "AWS::StackId") {
			t.Errorf("%s is %v, the same in every stack", where, v)
		}
	}
	for id, r := range tpl.Resources {
		if r.Type == "AWS::Lambda::EventSourceMapping" || r.Type == "AWS::Lambda::Permission" {
			continue // FunctionName there names the stack's own function
		}
		for k, v := range r.Properties {
			if named.MatchString(k) && !(r.Type == stack.FunctionType && k == "FunctionName") {
				check(id+"."+k, v)
			}
		}
		events, _ := r.Properties["Events"].(map[string]any)
		for name, ev := range events {
			props, _ := ev.(map[string]any)["Properties"].(map[string]any)
			if t := fmt.Sprint(ev.(map[string]any)["Type"]); t == "ScheduleV2" || t == "Schedule" {
				check(id+" event "+name+" Name", props["Name"])
			}
		}
	}
}

// TestEachFunctionsEnvironmentIsTheOneItDeclares holds template.yaml's
// Environment.Variables against internal/env's declarations: the template
// sets no variable the function does not read, and every one it needs.
func TestEachFunctionsEnvironmentIsTheOneItDeclares(t *testing.T) {
	tpl := load(t)
	declared := map[string][]env.Var{
		"ReplicationAuditorFunction":  env.Audit,
		"ReplicationSweeperFunction":  env.Audit,
		"InventoryReconcilerFunction": env.Reconciling,
		"ReplicationSetupFunction":    env.Setup,
	}
	for _, id := range tpl.Functions() {
		vars, ok := declared[id]
		if !ok {
			t.Errorf("%s: no declaration of its environment in internal/env", id)
			continue
		}
		envp, _ := tpl.Resources[id].Properties["Environment"].(map[string]any)
		set, _ := envp["Variables"].(map[string]any)
		for name := range set {
			if !slices.ContainsFunc(vars, func(v env.Var) bool { return v.Name == name }) {
				t.Errorf("%s: the template sets %s, which the function does not read", id, name)
			}
		}
		for _, v := range vars {
			if _, ok := set[v.Name]; v.Required && !ok {
				t.Errorf("%s: the function needs %s (%s), which the template does not set", id, v.Name, v.Doc)
			}
		}
	}
}

// resolveStack resolves template.yaml with these parameters, every resource
// provisioned with made-up ids: ref is the logical id, Arn and RuleIds
// name it.
func resolveStack(t *testing.T, params map[string]string) map[string]*stack.ResolvedResource {
	t.Helper()
	r := resolved(t, params)
	order, err := r.Order()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*stack.ResolvedResource{}
	for _, id := range order {
		if out[id], err = r.ResolveResource(id); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// resolved is template.yaml resolved with these parameters, every resource
// provisioned as resolveStack says, and a custom resource's attributes
// named after it.
func resolved(t *testing.T, params map[string]string) *stack.Resolved {
	t.Helper()
	tree, err := stack.LoadTree(root + "/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := stack.Resolve(tree, stack.Inputs{Parameters: params, StackID: testStackID,
		Resource: func(id string) (string, map[string]string, bool) {
			return id, map[string]string{"Arn": "arn:aws:test:::" + id, "RuleIds": id + "-rules", "QueueName": id,
				"SourceBucketArn": id + "-source", "DestinationBucketArns": id + "-destinations",
				"InventoryConfigurationId": id + "-inventory", "DestinationInventoryConfigurationId": id + "-destination-inventory"}, true
		}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const testStackID = "arn:aws:cloudformation:eu-west-1:111122223333:stack/replaudit/0d3c2a10-8e1b-11ef-9d1a-0a1b2c3d4e5f"

// environment is a function's resolved Environment.Variables.
func environment(t *testing.T, r *stack.ResolvedResource) map[string]string {
	t.Helper()
	fn, err := r.Function()
	if err != nil {
		t.Fatal(err)
	}
	return fn.Environment
}

// TestEachAdditionalSourceIsItsOwnResources: AdditionalSources makes one
// Custom::S3Replication resource per entry, with its own role and policies,
// on the shared queue; the setup function may configure each, and the
// audit functions audit the rules each writes, named as the setup names
// them. Adding a source changes nothing of the others.
func TestEachAdditionalSourceIsItsOwnResources(t *testing.T) {
	entries := []string{"acme-logs>acme-logs-dr", "acme-img>acme-img-dr>photos/"}
	base := map[string]string{"SourceBucketName": "acme-data", "DestinationBucketName": "acme-data-dr"}
	with := func(list string) map[string]string {
		p := map[string]string{"AdditionalSources": list}
		for k, v := range base {
			p[k] = v
		}
		return p
	}
	res := resolveStack(t, with(strings.Join(entries, ",")))

	want := []setup.Source{{Bucket: "acme-logs", Destination: "acme-logs-dr"}, {Bucket: "acme-img", Destination: "acme-img-dr", Prefix: "photos/"}}
	for i, e := range entries {
		id := setup.EntryLogicalID(e)
		cr, ok := res[id]
		if !ok || cr.Type != "Custom::S3Replication" {
			t.Fatalf("no Custom::S3Replication %s for %q", id, e)
		}
		p := cr.Properties
		dests := fmt.Sprint(p["Destinations"])
		if p["SourceBucket"] != want[i].Bucket || p["Prefix"] != want[i].Prefix || !strings.Contains(dests, "Bucket:"+want[i].Destination+" ") ||
			p["NotificationQueueArn"] != "arn:aws:test:::EventQueue" {
			t.Errorf("%s: %v", id, p)
		}
		role := strings.Replace(id, "SourceReplication", "SourceRole", 1)
		if p["RoleArn"] != "arn:aws:test:::"+role || res[role] == nil {
			t.Errorf("%s replicates with %v, not its own role %s", id, p["RoleArn"], role)
		}
		access := strings.Replace(id, "SourceReplication", "SourceSetupAccess", 1)
		if !slices.Contains(cr.Needs, access) || !slices.Contains(cr.Needs, "EventQueuePolicy") {
			t.Errorf("%s comes after %v, not after %s and the queue's policy", id, cr.Needs, access)
		}
		for _, check := range []struct{ id, bucket string }{{access, want[i].Bucket}, {strings.Replace(id, "SourceReplication", "SourceAuditAccess", 1), want[i].Bucket}} {
			pol := fmt.Sprint(res[check.id].Properties)
			if !strings.Contains(pol, ":::"+check.bucket+" ") && !strings.Contains(pol, ":::"+check.bucket+"]") || strings.Contains(pol, ":::*") {
				t.Errorf("%s does not name %s alone: %s", check.id, check.bucket, pol)
			}
		}
		sts := map[string]map[string]any{}
		statements(res[access].Properties, sts)
		if !strings.Contains(fmt.Sprint(sts["HandTheReplicationRoleToS3"]["Condition"]), "iam:PassedToService") {
			t.Errorf("%s passes the role to any service", access)
		}
	}

	// The functions know every source, and audit every rule.
	setupEnv := environment(t, res["ReplicationSetupFunction"])
	for k, v := range setupEnv {
		t.Setenv(k, v)
	}
	if c, err := env.LoadSetup(); err != nil || !slices.Equal(c.SourceBuckets, []string{"acme-data", "acme-logs", "acme-img"}) {
		t.Errorf("the setup function may configure %q (%v)", c.SourceBuckets, err)
	}
	auditEnv := environment(t, res["ReplicationAuditorFunction"])
	for k, v := range auditEnv {
		t.Setenv(k, v)
	}
	c, err := env.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		id, _ := setup.EntryRuleID(testStackID, e)
		if !slices.Contains(c.RuleIDs, id) {
			t.Errorf("the auditor does not audit %s, the rule of %q; it audits %q", id, e, c.RuleIDs)
		}
	}
	if !maps.Equal(auditEnv, environment(t, res["ReplicationSweeperFunction"])) {
		t.Errorf("the auditor and the sweeper audit different rules")
	}

	// Adding the second source changes nothing of the first's, or of the
	// stack's first source.
	one := resolveStack(t, with(entries[0]))
	for id, r := range one {
		if strings.HasPrefix(id, "SourceRole") || strings.HasPrefix(id, "SourceReplication") || strings.Contains(id, "Access") ||
			id == "Replication" || id == "ReplicationRole" {
			if !reflect.DeepEqual(r.Properties, res[id].Properties) {
				t.Errorf("adding a source changes %s", id)
			}
		}
	}
	// And without AdditionalSources there is none.
	for id, r := range resolveStack(t, base) {
		if r.Type == "Custom::S3Replication" && id != "Replication" || strings.HasPrefix(id, "SourceRole") {
			t.Errorf("%s exists without AdditionalSources", id)
		}
	}
}

// TestTheSetupFunctionKnowsItsStackAndSources: without SOURCE_BUCKETS it
// refuses every Create and Update; without STACK_ID it cannot tell its own
// old source from a forged request, and leaves it as it was after a move.
func TestTheSetupFunctionKnowsItsStackAndSources(t *testing.T) {
	vars := environment(t, resolveStack(t, map[string]string{"SourceBucketName": "acme-data", "DestinationBucketName": "acme-data-dr"})["ReplicationSetupFunction"])
	if vars["SOURCE_BUCKETS"] != "acme-data," || vars["STACK_ID"] != testStackID {
		t.Errorf("the setup function's environment: %v", vars)
	}
}

// TestAnExistingReplicationRoleIsAdoptedNotCreated: with
// ExistingReplicationRoleArn the stack creates no replication role, and
// everything that names the role names the existing one; the setup
// function may then simulate that role's policies and its own, after
// which the resource comes. Without it nothing changes, and the function
// may simulate nothing.
func TestAnExistingReplicationRoleIsAdoptedNotCreated(t *testing.T) {
	existing := "arn:aws:iam::111122223333:role/service-role/their-replication"
	params := map[string]string{"SourceBucketName": "acme-data", "DestinationBucketName": "acme-data-dr", "EnableInventory": "true", "AutoRedrive": "true"}
	for _, c := range []struct {
		name, existing, role string
	}{
		{"without ExistingReplicationRoleArn", "", "arn:aws:test:::ReplicationRole"},
		{"with ExistingReplicationRoleArn", existing, existing},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := maps.Clone(params)
			p["ExistingReplicationRoleArn"] = c.existing
			res := resolveStack(t, p)
			adopts := c.existing != ""
			if _, made := res["ReplicationRole"]; made == adopts {
				t.Errorf("ReplicationRole created: %v", made)
			}
			if got := res["Replication"].Properties["RoleArn"]; got != c.role {
				t.Errorf("Replication's RoleArn: got %v, want %s", got, c.role)
			}
			if got := environment(t, res["InventoryReconcilerFunction"])["REPLICATION_ROLE_ARN"]; got != c.role {
				t.Errorf("the reconciler's REPLICATION_ROLE_ARN: got %s, want %s", got, c.role)
			}
			for fn, sid := range map[string]string{"ReplicationSetupFunction": "HandTheReplicationRoleToS3", "InventoryReconcilerFunction": "HandTheReplicationRoleToBatchOperations"} {
				sts := map[string]map[string]any{}
				statements(res[fn].Properties, sts)
				if got := fmt.Sprint(sts[sid]["Resource"]); got != c.role || !strings.Contains(fmt.Sprint(sts[sid]["Condition"]), "iam:PassedToService") {
					t.Errorf("%s %s passes %s (condition %v), want %s to its service alone", fn, sid, got, sts[sid]["Condition"], c.role)
				}
			}
			outputs, err := resolved(t, p).Outputs()
			if err != nil {
				t.Fatal(err)
			}
			if got := outputs["ReplicationRoleArn"]; got != c.role {
				t.Errorf("output ReplicationRoleArn: got %v, want %s", got, c.role)
			}

			checks, ok := res["ReplicationSetupRoleChecks"]
			if ok != adopts {
				t.Fatalf("ReplicationSetupRoleChecks exists: %v", ok)
			}
			if !adopts {
				return
			}
			sts := map[string]map[string]any{}
			statements(checks.Properties, sts)
			fnRole := "arn:aws:test:::ReplicationSetupFunctionRole"
			if got := fmt.Sprint(sts["SimulateTheAdoptedRoleAndItself"]["Resource"]); got != fmt.Sprint([]any{existing, fnRole}) {
				t.Errorf("the function may simulate %s, want the adopted role and its own", got)
			}
			if got := fmt.Sprint(sts["ReadItsOwnRole"]["Resource"]); got != fnRole {
				t.Errorf("the function may read %s, want its own role", got)
			}
			if got := fmt.Sprint(checks.Properties["Roles"]); got != "[ReplicationSetupFunctionRole]" {
				t.Errorf("the checks' policy is attached to %s", got)
			}
			if !slices.Contains(res["Replication"].Needs, "ReplicationSetupRoleChecks") {
				t.Errorf("Replication comes after %v, not after the policy that lets it check the role", res["Replication"].Needs)
			}
		})
	}
}

// TestTheReportFindsTheStacksThreshold: replaudit report --stack measures
// against the threshold the stack alerts on, read from this output.
func TestTheReportFindsTheStacksThreshold(t *testing.T) {
	out, _ := load(t).Outputs["PendingThresholdMinutes"].(map[string]any)
	if fmt.Sprint(out["Value"]) != "PendingThresholdMinutes" {
		t.Errorf("the PendingThresholdMinutes output: %v", out)
	}
}

// TestVerificationIsScopedToItsWorkgroupTablesAndInventories: with
// DestinationInventoryBucketName, the stack creates the Glue tables over
// both inventories, whose columns are the ones the setup asks S3 for in
// S3's order, the workgroup with its cutoff, and the schedule; the
// reconciler may run queries in that workgroup and read those tables and
// inventories only.
func TestVerificationIsScopedToItsWorkgroupTablesAndInventories(t *testing.T) {
	for _, format := range []string{"CSV", "Parquet"} {
		t.Run(format, func(t *testing.T) {
			res := resolveStack(t, map[string]string{"SourceBucketName": "acme-data", "DestinationBucketName": "acme-data-dr", "EnableInventory": "true",
				"InventoryFormat": format, "DestinationInventoryBucketName": "acme-dr-inventory"})
			for _, table := range []string{"SourceInventoryTable", "DestinationInventoryTable"} {
				in, _ := res[table].Properties["TableInput"].(map[string]any)
				sd, _ := in["StorageDescriptor"].(map[string]any)
				var names []string
				cols, _ := sd["Columns"].([]any)
				for _, c := range cols {
					names = append(names, fmt.Sprint(c.(map[string]any)["Name"]))
				}
				if !slices.Equal(names, setup.InventoryColumns()) {
					t.Errorf("%s's columns %v, want the setup's inventory columns in S3's order %v", table, names, setup.InventoryColumns())
				}
				if loc := fmt.Sprint(sd["Location"]); !strings.HasSuffix(loc, "/hive/") {
					t.Errorf("%s reads %s, want an inventory's hive symlinks", table, loc)
				}
			}
			if !strings.Contains(fmt.Sprint(res["DestinationInventoryTable"].Properties), "s3://acme-dr-inventory/inventory/acme-data-dr/") {
				t.Errorf("the destination's table does not read the destination's inventory: %v", res["DestinationInventoryTable"].Properties)
			}
			wg := fmt.Sprint(res["VerifyWorkGroup"].Properties)
			if !strings.Contains(wg, "BytesScannedCutoffPerQuery") {
				t.Errorf("the workgroup has no bytes-scanned cutoff: %s", wg)
			}
			sts := map[string]map[string]any{}
			statements(res["InventoryReconcilerFunction"].Properties, sts)
			for sid, want := range map[string]string{
				"RunTheVerificationQuery":      ":workgroup/",
				"ReadTheInventoryTables":       ":table/",
				"ReadTheDestinationsInventory": "acme-dr-inventory/inventory/acme-data-dr/*",
			} {
				got := fmt.Sprint(sts[sid]["Resource"])
				if !strings.Contains(got, want) || strings.Contains(got, "*]") || got == "*" {
					t.Errorf("%s may act on %s, want only %s", sid, got, want)
				}
			}
			if in := fmt.Sprint(res["VerifySchedule"].Properties["Targets"]); !strings.Contains(in, `{"verify":"pending"}`) {
				t.Errorf("the schedule's target: %s", in)
			}
		})
	}
}
