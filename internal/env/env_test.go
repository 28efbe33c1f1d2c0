package env_test

import (
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
