package stack_test

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/reconcile"
	"github.com/replaudit/replaudit/internal/setup"
	"github.com/replaudit/replaudit/internal/stack"
)

// statements finds every IAM statement with a Sid under v, whatever
// intrinsic functions (!If) wrap it.
func statements(v any, out map[string]map[string]any) {
	switch v := v.(type) {
	case map[string]any:
		if sid, ok := v["Sid"].(string); ok {
			out[sid] = v
		}
		for _, x := range v {
			statements(x, out)
		}
	case []any:
		for _, x := range v {
			statements(x, out)
		}
	}
}

func actions(t *testing.T, st map[string]any) []string {
	t.Helper()
	var out []string
	switch a := st["Action"].(type) {
	case string:
		out = []string{a}
	case []any:
		for _, x := range a {
			out = append(out, fmt.Sprint(x))
		}
	}
	sort.Strings(out)
	return out
}

func TestReplicationRoleGrantsExactlyWhatS3Needs(t *testing.T) {
	tpl := load(t)
	role, ok := tpl.Resources["ReplicationRole"]
	if !ok || role.Type != "AWS::IAM::Role" {
		t.Fatal("no ReplicationRole")
	}
	sts := map[string]map[string]any{}
	statements(role.Properties["Policies"], sts)
	want := map[string][]string{
		"ReadSourceConfiguration": {"s3:GetReplicationConfiguration", "s3:ListBucket"},
		"ReadSourceObjects":       {"s3:GetObjectVersionAcl", "s3:GetObjectVersionForReplication", "s3:GetObjectVersionTagging"},
		"WriteReplicas":           {"s3:ReplicateDelete", "s3:ReplicateObject", "s3:ReplicateTags"},
		"DecryptSourceObjects":    {"kms:Decrypt"},
		"EncryptReplicas":         {"kms:Encrypt", "kms:GenerateDataKey"},
		// S3 Batch Replication, with AutoRedrive: what AWS documents for
		// a job given its manifest.
		"RedriveSourceObjects": {"s3:InitiateReplication"},
		"ReadRedriveManifests": {"s3:GetObject", "s3:GetObjectVersion"},
		"WriteRedriveReports":  {"s3:PutObject"},
	}
	if len(sts) != len(want) {
		t.Errorf("statements: got %d, want %d", len(sts), len(want))
	}
	for sid, acts := range want {
		st, ok := sts[sid]
		if !ok {
			t.Errorf("no statement %s", sid)
			continue
		}
		if got := actions(t, st); !slices.Equal(got, acts) {
			t.Errorf("%s: got %v, want %v", sid, got, acts)
		}
		for _, a := range actions(t, st) {
			if a == "*" || a[len(a)-1] == '*' {
				t.Errorf("%s grants a wildcard action %s", sid, a)
			}
		}
	}
}

func TestSetupFunctionMayOnlyConfigureTheNamedBuckets(t *testing.T) {
	tpl := load(t)
	fn := tpl.Resources["ReplicationSetupFunction"]
	sts := map[string]map[string]any{}
	statements(fn.Properties["Policies"], sts)
	for sid, st := range sts {
		res := fmt.Sprint(st["Resource"])
		if res == "*" {
			t.Errorf("%s applies to every resource", sid)
		}
		if strings.Contains(res, ":::*") {
			t.Errorf("%s applies to every bucket, not the stack's own: %s", sid, res)
		}
		for _, a := range actions(t, st) {
			if a[len(a)-1] == '*' {
				t.Errorf("%s grants a wildcard action %s", sid, a)
			}
		}
	}
	if got := actions(t, sts["HandTheReplicationRoleToS3"]); !slices.Equal(got, []string{"iam:PassRole"}) {
		t.Errorf("PassRole statement: got %v", got)
	}
}

func TestCustomResourceIsWiredToTheFunction(t *testing.T) {
	tpl := load(t)
	res, ok := tpl.Resources["Replication"]
	if !ok || res.Type != "Custom::S3Replication" {
		t.Fatal("no Custom::S3Replication resource named Replication")
	}
	for name := range res.Properties {
		if !setup.KnownProperty(name) {
			t.Errorf("the template sets %s, which the function does not know", name)
		}
	}
	timeout, err := strconv.Atoi(fmt.Sprint(res.Properties["ServiceTimeout"]))
	if err != nil || timeout < 60 || timeout > 900 {
		t.Errorf("ServiceTimeout: got %v, want a few minutes", res.Properties["ServiceTimeout"])
	}
}

func TestParametersHaveDescriptionsAndSafeDefaults(t *testing.T) {
	tpl := load(t)
	required := map[string]bool{"SourceBucketName": true, "DestinationBucketName": true} // no safe guess exists
	want := []string{"SourceBucketName", "DestinationBucketName", "DestinationRegion", "CreateDestinationBucket",
		"ReplicationPrefix", "DestinationStorageClass", "EnableReplicationTimeControl", "ReplicaKmsKeyArn", "DeleteMarkerReplication"}
	for _, name := range want {
		p, ok := tpl.Parameters[name]
		if !ok {
			t.Errorf("no parameter %s", name)
			continue
		}
		if p.Description == "" {
			t.Errorf("%s has no description", name)
		}
		if (p.Default == nil) != required[name] {
			t.Errorf("%s: default %v, want one unless the parameter is required", name, p.Default)
		}
	}
	defaults := map[string]string{"CreateDestinationBucket": "false", "EnableReplicationTimeControl": "false", "DeleteMarkerReplication": "true", "DestinationStorageClass": "STANDARD"}
	for name, v := range defaults {
		if p := tpl.Parameters[name]; p.Default == nil || *p.Default != v {
			t.Errorf("%s default: got %v, want %s", name, p.Default, v)
		}
	}
}

// iamAction names the permission each AWS call of the setup needs; ""
// for one that needs none.
var iamAction = map[string]string{
	"CreateBucket": "s3:CreateBucket", "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
	"PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock", "GetBucketPolicy": "s3:GetBucketPolicy",
	"PutBucketPolicy": "s3:PutBucketPolicy", "GetBucketVersioning": "s3:GetBucketVersioning",
	"PutBucketVersioning": "s3:PutBucketVersioning", "GetBucketReplication": "s3:GetReplicationConfiguration",
	"PutBucketReplication": "s3:PutReplicationConfiguration", "DeleteBucketReplication": "s3:PutReplicationConfiguration",
	"GetBucketNotificationConfiguration": "s3:GetBucketNotification", "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
	"GetBucketInventoryConfiguration": "s3:GetInventoryConfiguration", "PutBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
	"DeleteBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
	// Checking an adopted replication role.
	"GetRole": "iam:GetRole", "SimulatePrincipalPolicy": "iam:SimulatePrincipalPolicy",
	"GetCallerIdentity": "",
}

// setupStatements are the statements of the setup function's policies:
// its own, and those of the stack's policies attached to its role.
func setupStatements(tpl *stack.Template) map[string]map[string]any {
	sts := map[string]map[string]any{}
	statements(tpl.Resources["ReplicationSetupFunction"].Properties["Policies"], sts)
	for _, r := range tpl.Resources {
		if r.Type == "AWS::IAM::Policy" && strings.Contains(fmt.Sprint(r.Properties["Roles"]), "ReplicationSetupFunctionRole") {
			statements(r.Properties["PolicyDocument"], sts)
		}
	}
	return sts
}

func TestSetupFunctionMayMakeEveryCallItMakes(t *testing.T) {
	tpl := load(t)
	granted := map[string]bool{}
	for _, st := range setupStatements(tpl) {
		for _, a := range actions(t, st) {
			granted[a] = true
		}
	}
	for _, api := range []reflect.Type{reflect.TypeFor[setup.S3](), reflect.TypeFor[setup.IAM](), reflect.TypeFor[setup.STS]()} {
		for i := range api.NumMethod() {
			call := api.Method(i).Name
			action, ok := iamAction[call]
			if !ok {
				t.Errorf("setup calls %s: name its IAM action in this test", call)
				continue
			}
			if action != "" && !granted[action] {
				t.Errorf("setup calls %s but the template does not grant %s", call, action)
			}
		}
	}
}

// auditAction names the permission each call of the auditor and sweeper
// needs; HeadObject with a versionId needs GetObjectVersion.
var auditAction = map[string][]string{
	"HeadObject":           {"s3:GetObject", "s3:GetObjectVersion"},
	"GetObjectTagging":     {"s3:GetObjectVersionTagging"},
	"GetBucketReplication": {"s3:GetReplicationConfiguration"},
}

func TestAuditFunctionsMayMakeEveryCallTheyMake(t *testing.T) {
	tpl := load(t)
	for _, fn := range []string{"ReplicationAuditorFunction", "ReplicationSweeperFunction"} {
		sts := map[string]map[string]any{}
		statements(tpl.Resources[fn].Properties["Policies"], sts)
		granted := map[string]bool{}
		for _, st := range sts {
			for _, a := range actions(t, st) {
				granted[a] = true
			}
		}
		api := reflect.TypeOf((*audit.S3)(nil)).Elem()
		for i := range api.NumMethod() {
			call := api.Method(i).Name
			needs, ok := auditAction[call]
			if !ok {
				t.Errorf("the audit calls %s: name its IAM actions in this test", call)
			}
			for _, a := range needs {
				if !granted[a] {
					t.Errorf("%s: the audit calls %s but %s is not granted", fn, call, a)
				}
			}
		}
		for _, a := range []string{"s3:ListBucket", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query", "sns:Publish"} {
			if !granted[a] {
				t.Errorf("%s lacks %s", fn, a)
			}
		}
	}
}

func TestLedgerTableMatchesWhatTheLedgerCreatesLocally(t *testing.T) {
	tpl := load(t)
	props := tpl.Resources["LedgerTable"].Properties
	want := ledger.TableInput("ledger")
	got := map[string]string{}
	for _, raw := range props["AttributeDefinitions"].([]any) {
		m := raw.(map[string]any)
		got[fmt.Sprint(m["AttributeName"])] = fmt.Sprint(m["AttributeType"])
	}
	for _, a := range want.AttributeDefinitions {
		if got[*a.AttributeName] != string(a.AttributeType) {
			t.Errorf("attribute %s: template has %q", *a.AttributeName, got[*a.AttributeName])
		}
	}
	indexes := map[string]string{}
	for _, raw := range props["GlobalSecondaryIndexes"].([]any) {
		m := raw.(map[string]any)
		var keys []string
		for _, k := range m["KeySchema"].([]any) {
			keys = append(keys, fmt.Sprint(k.(map[string]any)["AttributeName"]))
		}
		indexes[fmt.Sprint(m["IndexName"])] = strings.Join(keys, ",")
	}
	for _, g := range want.GlobalSecondaryIndexes {
		k := *g.KeySchema[0].AttributeName + "," + *g.KeySchema[1].AttributeName
		if indexes[*g.IndexName] != k {
			t.Errorf("index %s: template keys %q, ledger keys %q", *g.IndexName, indexes[*g.IndexName], k)
		}
	}
	if fmt.Sprint(props["TimeToLiveSpecification"]) != "map[AttributeName:ttl Enabled:true]" {
		t.Errorf("TTL: %v", props["TimeToLiveSpecification"])
	}
}

func TestTheAuditResourcesAreConfiguredAsTheIssueAsks(t *testing.T) {
	tpl := load(t)
	q := tpl.Resources["EventQueue"].Properties
	if q["SqsManagedSseEnabled"] != true || fmt.Sprint(q["DelaySeconds"]) != "FirstCheckDelaySeconds" {
		t.Errorf("queue: SSE %v, delay %v", q["SqsManagedSseEnabled"], q["DelaySeconds"])
	}
	auditorTimeout, _ := strconv.Atoi(fmt.Sprint(tpl.Resources["ReplicationAuditorFunction"].Properties["Timeout"]))
	if v, _ := strconv.Atoi(fmt.Sprint(q["VisibilityTimeout"])); v < 6*auditorTimeout {
		t.Errorf("visibility %d is under six times the auditor's timeout %d", v, auditorTimeout)
	}
	if rp := fmt.Sprint(q["RedrivePolicy"]); !strings.Contains(rp, "maxReceiveCount:5") {
		t.Errorf("redrive: %s", rp)
	}
	pol := fmt.Sprint(tpl.Resources["EventQueuePolicy"].Properties["PolicyDocument"])
	if !strings.Contains(pol, "aws:SourceArn") || !strings.Contains(pol, "aws:SourceAccount") {
		t.Errorf("queue policy: %s", pol)
	}
	ev := tpl.Resources["SourceEvents"]
	if ev.Type != "AWS::Lambda::EventSourceMapping" || fmt.Sprint(ev.Properties["FunctionName"]) != "ReplicationAuditorFunction" ||
		fmt.Sprint(ev.Properties["FunctionResponseTypes"]) != "[ReportBatchItemFailures]" || ev.Properties["MaximumBatchingWindowInSeconds"] == nil {
		t.Errorf("the auditor's event source: %v", ev)
	}
	tb := tpl.Resources["LedgerTable"].Properties
	if fmt.Sprint(tb["BillingMode"]) != "PAY_PER_REQUEST" || !strings.Contains(fmt.Sprint(tb["PointInTimeRecoverySpecification"]), "true") ||
		!strings.Contains(fmt.Sprint(tb["SSESpecification"]), "true") {
		t.Errorf("table: %v", tb)
	}
	if tpl.Resources["AlertTopic"].Properties["KmsMasterKeyId"] == nil || tpl.Resources["AlertEmailSubscription"].Type != "AWS::SNS::Subscription" {
		t.Error("the topic must be KMS-encrypted, with an optional email subscription")
	}
	sched := fmt.Sprint(tpl.Resources["ReplicationSweeperFunction"].Properties["Events"])
	if !strings.Contains(sched, "rate(5 minutes)") {
		t.Errorf("sweeper schedule: %s", sched)
	}
	if fmt.Sprint(tpl.Resources["Replication"].Properties["NotificationQueueArn"]) == "<nil>" {
		t.Error("the custom resource does not wire the queue")
	}
}

func TestAuditorsGetReadOnlyAccessToTheLedger(t *testing.T) {
	tpl := load(t)
	p := tpl.Resources["LedgerReadOnlyPolicy"]
	if p.Type != "AWS::IAM::ManagedPolicy" {
		t.Fatal("no LedgerReadOnlyPolicy managed policy")
	}
	sts := map[string]map[string]any{}
	statements(p.Properties["PolicyDocument"], sts)
	for sid, st := range sts {
		for _, a := range actions(t, st) {
			switch a {
			case "dynamodb:Query", "dynamodb:GetItem", "dynamodb:Scan":
			default:
				t.Errorf("%s grants %s, which is not read-only", sid, a)
			}
		}
	}
	if tpl.Outputs["LedgerReadOnlyPolicyArn"] == nil {
		t.Error("the policy is not an output")
	}
}

// reconcileAction names the permission each call of the reconciler needs
// in the inventory bucket, and its S3 Batch Operations and SQS calls.
var reconcileAction = map[string][]string{
	"GetObject": {"s3:GetObject"}, "HeadObject": {"s3:GetObject"}, "ListObjectsV2": {"s3:ListBucket"},
	"PutObject": {"s3:PutObject"}, "CreateMultipartUpload": {"s3:PutObject"}, "UploadPart": {"s3:PutObject"},
	"CompleteMultipartUpload": {"s3:PutObject"}, "AbortMultipartUpload": {"s3:AbortMultipartUpload"},
	"CreateJob": {"s3:CreateJob", "iam:PassRole"}, "SendMessageBatch": {"sqs:SendMessage"},
	"UpdateItem": {"dynamodb:UpdateItem"}, "GetItem": {"dynamodb:GetItem"}, "Query": {"dynamodb:Query"},
}

func TestReconcilerMayMakeEveryCallItMakes(t *testing.T) {
	tpl := load(t)
	fn, ok := tpl.Resources["InventoryReconcilerFunction"]
	if !ok || fn.Condition != "InventoryOn" {
		t.Fatalf("no InventoryReconcilerFunction under the InventoryOn condition: %+v", fn)
	}
	sts := map[string]map[string]any{}
	statements(fn.Properties["Policies"], sts)
	granted := map[string]bool{}
	for _, st := range sts {
		for _, a := range actions(t, st) {
			granted[a] = true
		}
	}
	for _, api := range []reflect.Type{reflect.TypeOf((*reconcile.S3)(nil)).Elem(), reflect.TypeOf((*reconcile.Jobs)(nil)).Elem(),
		reflect.TypeOf((*reconcile.SQS)(nil)).Elem(), reflect.TypeOf((*reconcile.RunDB)(nil)).Elem(), reflect.TypeOf((*audit.S3)(nil)).Elem()} {
		for i := range api.NumMethod() {
			call := api.Method(i).Name
			needs, ok := reconcileAction[call]
			if !ok {
				needs, ok = auditAction[call]
			}
			if !ok {
				t.Errorf("the reconciler calls %s: name its IAM actions in this test", call)
			}
			for _, a := range needs {
				if !granted[a] {
					t.Errorf("the reconciler calls %s but %s is not granted", call, a)
				}
			}
		}
	}
	// The ledger's own calls: a hundred versions read at once, findings
	// written whole.
	for _, a := range []string{"dynamodb:BatchGetItem", "dynamodb:PutItem", "sns:Publish", "s3:ListBucket"} {
		if !granted[a] {
			t.Errorf("the reconciler lacks %s", a)
		}
	}
	if fmt.Sprint(sts["StartBatchReplication"]["Resource"]) != "*" || !strings.Contains(fmt.Sprint(sts["HandTheReplicationRoleToBatchOperations"]["Condition"]), "batchoperations.s3.amazonaws.com") {
		t.Errorf("re-drive statements: %v, %v", sts["StartBatchReplication"], sts["HandTheReplicationRoleToBatchOperations"])
	}
}

func TestTheInventoryBucketIsLockedDown(t *testing.T) {
	tpl := load(t)
	b := tpl.Resources["InventoryBucket"]
	if b.Type != "AWS::S3::Bucket" || b.Condition != "InventoryOn" {
		t.Fatalf("inventory bucket: %+v", b)
	}
	p := b.Properties
	for what, want := range map[string]string{
		"BucketEncryption":               "AES256",
		"PublicAccessBlockConfiguration": "map[BlockPublicAcls:true BlockPublicPolicy:true IgnorePublicAcls:true RestrictPublicBuckets:true]",
		"LifecycleConfiguration":         "ExpirationInDays:InventoryRetentionDays",
		"NotificationConfiguration":      "suffix Value:manifest.json",
	} {
		if got := fmt.Sprint(p[what]); !strings.Contains(got, want) {
			t.Errorf("%s: %s lacks %s", what, got, want)
		}
	}
	pol := fmt.Sprint(tpl.Resources["InventoryBucketPolicy"].Properties["PolicyDocument"])
	for _, want := range []string{"aws:SourceArn", "aws:SourceAccount", "aws:SecureTransport:false", "Service:s3.amazonaws.com", "/inventory/*"} {
		if !strings.Contains(pol, want) {
			t.Errorf("inventory bucket policy lacks %s: %s", want, pol)
		}
	}
	timeout, _ := strconv.Atoi(fmt.Sprint(tpl.Resources["InventoryReconcilerFunction"].Properties["Timeout"]))
	for _, q := range []string{"InventoryQueue", "InventoryFilesQueue"} {
		if v, _ := strconv.Atoi(fmt.Sprint(tpl.Resources[q].Properties["VisibilityTimeout"])); v < 6*timeout {
			t.Errorf("%s: visibility %d is under six times the reconciler's timeout %d", q, v, timeout)
		}
	}
	inv := fmt.Sprint(tpl.Resources["Replication"].Properties["Inventory"])
	for _, want := range []string{"InventoryOn", "Bucket:InventoryBucket", "Prefix:inventory"} {
		if !strings.Contains(inv, want) {
			t.Errorf("the custom resource's Inventory lacks %s: %s", want, inv)
		}
	}
	if d := tpl.Parameters["EnableInventory"].Default; d == nil || *d != "false" {
		t.Errorf("EnableInventory must be opt-in: default %v", d)
	}
	if d := tpl.Parameters["AutoRedrive"].Default; d == nil || *d != "false" {
		t.Errorf("AutoRedrive must be off by default: %v", d)
	}
}
