package env_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/env"
	"github.com/replaudit/replaudit/internal/setup"
)

func TestLoadNamesEveryProblem(t *testing.T) {
	t.Setenv("LEDGER_TABLE", "")
	t.Setenv("ALERT_TOPIC_ARN", "")
	t.Setenv("STORM_LIMIT", "twenty")
	_, err := env.Load()
	for _, want := range []string{"LEDGER_TABLE is not set", "ALERT_TOPIC_ARN is not set", `STORM_LIMIT="twenty" is not a positive whole number`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to say %q", err, want)
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Setenv("LEDGER_TABLE", "ledger")
	t.Setenv("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:111122223333:alerts")
	t.Setenv("PENDING_THRESHOLD_MINUTES", "45")
	c, err := env.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention != 400*24*time.Hour || c.StormLimit != 20 || c.StormWindow != 5*time.Minute || c.PendingThreshold != 45*time.Minute {
		t.Errorf("got %+v", c)
	}
}

func TestTheSetupFunctionsScopeFromItsEnvironment(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		sources []string
		stack   string
	}{
		{"nothing set: no source at all", nil, nil, ""},
		{"a list with spaces and empty entries", map[string]string{"SOURCE_BUCKETS": " a-bucket, ,b-bucket,", "STACK_ID": "arn:aws:cloudformation:us-east-1:111122223333:stack/s/1"},
			[]string{"a-bucket", "b-bucket"}, "arn:aws:cloudformation:us-east-1:111122223333:stack/s/1"},
		{"one bucket, as the template's !Ref gives it", map[string]string{"SOURCE_BUCKETS": "acme-data"}, []string{"acme-data"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"SOURCE_BUCKETS", "STACK_ID", "LEDGER_TABLE"} {
				t.Setenv(k, c.env[k])
			}
			got, err := env.LoadSetup()
			if err != nil || !slices.Equal(got.SourceBuckets, c.sources) || got.StackID != c.stack {
				t.Errorf("got %q %q %v, want sources %q and stack %q", got.SourceBuckets, got.StackID, err, c.sources, c.stack)
			}
		})
	}
}

// TestTheRulesOfAdditionalSourcesAreAudited: the audit functions audit the
// rules the stack's first source's resource reports (RULE_IDS) and those
// its AdditionalSources' resources write, named as the setup names them.
func TestTheRulesOfAdditionalSourcesAreAudited(t *testing.T) {
	stackID := "arn:aws:cloudformation:us-east-1:111122223333:stack/replaudit/0d3c2a10-8e1b-11ef-9d1a-0a1b2c3d4e5f"
	t.Setenv("LEDGER_TABLE", "ledger")
	t.Setenv("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:111122223333:alerts")
	t.Setenv("RULE_IDS", "replaudit-0123456789-acme-dr")
	t.Setenv("STACK_ID", stackID)
	t.Setenv("ADDITIONAL_SOURCES", "acme-logs>acme-logs-dr,acme-img>acme-img-dr>photos/")
	c, err := env.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"replaudit-0123456789-acme-dr",
		setup.RuleID(setup.Owner(stackID, "SourceReplicationacmelogsacmelogsdr"), "acme-logs-dr"),
		setup.RuleID(setup.Owner(stackID, "SourceReplicationacmeimgacmeimgdrphotos"), "acme-img-dr")}
	if !slices.Equal(c.RuleIDs, want) {
		t.Errorf("rule IDs %q, want %q", c.RuleIDs, want)
	}

	t.Setenv("STACK_ID", "")
	if _, err := env.Load(); err == nil || !strings.Contains(err.Error(), "STACK_ID is not") {
		t.Errorf("ADDITIONAL_SOURCES without STACK_ID: %v", err)
	}
	t.Setenv("STACK_ID", stackID)
	t.Setenv("ADDITIONAL_SOURCES", "acme-logs")
	if _, err := env.Load(); err == nil || !strings.Contains(err.Error(), "is not SOURCE>DESTINATION") {
		t.Errorf("an entry without its destination: %v", err)
	}
}

func TestTheSetupFunctionMayConfigureEachSourceOfItsStack(t *testing.T) {
	t.Setenv("SOURCE_BUCKETS", "acme-data,acme-logs>acme-logs-dr,acme-img>acme-img-dr>photos/")
	c, err := env.LoadSetup()
	if err != nil || !slices.Equal(c.SourceBuckets, []string{"acme-data", "acme-logs", "acme-img"}) {
		t.Errorf("sources %q, %v", c.SourceBuckets, err)
	}
}

// TestVerificationNeedsEveryLocationItReads: VERIFY_DESTINATION_BUCKET
// turns the verification on, and the reconciler will not start without
// the inventories' locations and tables, named in one error.
func TestVerificationNeedsEveryLocationItReads(t *testing.T) {
	t.Setenv("LEDGER_TABLE", "ledger")
	t.Setenv("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:111122223333:alerts")
	t.Setenv("FILES_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/111122223333/files")
	t.Setenv("SOURCE_BUCKETS", "acme-data")
	c, err := env.LoadReconciler()
	if err != nil || c.VerifyDestination != "" || c.InventoryPrefix != "inventory" || c.AthenaWorkgroup != "primary" || c.VerifySettle != 6*time.Hour {
		t.Fatalf("off by default: got %+v, %v", c, err)
	}
	t.Setenv("VERIFY_DESTINATION_BUCKET", "acme-data-dr")
	t.Setenv("ATHENA_DATABASE", "replaudit_x")
	_, err = env.LoadReconciler()
	want := "VERIFY_DESTINATION_BUCKET is set, and needs ATHENA_DESTINATION_TABLE, ATHENA_SOURCE_TABLE, INVENTORY_BUCKET, VERIFY_DESTINATION_INVENTORY_BUCKET, VERIFY_DESTINATION_INVENTORY_ID, VERIFY_SOURCE_INVENTORY_ID too"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	for k, v := range map[string]string{"ATHENA_DESTINATION_TABLE": "d", "ATHENA_SOURCE_TABLE": "s", "INVENTORY_BUCKET": "inv",
		"VERIFY_DESTINATION_INVENTORY_BUCKET": "inv-dr", "VERIFY_DESTINATION_INVENTORY_ID": "x-destination-inventory", "VERIFY_SOURCE_INVENTORY_ID": "x-inventory"} {
		t.Setenv(k, v)
	}
	if _, err := env.LoadReconciler(); err != nil {
		t.Errorf("everything set: %v", err)
	}
}
