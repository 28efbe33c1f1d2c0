package env_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/env"
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
