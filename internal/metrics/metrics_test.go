package metrics_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/metrics"
)

func TestEveryLineIsEmbeddedMetricFormat(t *testing.T) {
	tl := metrics.New()
	tl.Count("Findings", 2, "Verdict", "VERIFIED")
	tl.Count("Findings", 1, "Verdict", "FAILED")
	tl.Count("AlertsUnsent", 1)
	for i := range 150 {
		tl.Observe("CheckLatency", "Milliseconds", float64(i))
	}
	var b bytes.Buffer
	tl.Write(&b, time.UnixMilli(1795980000000))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 { // three counters, and 150 values in lines of at most 100
		t.Fatalf("got %d lines, want 5:\n%s", len(lines), b.String())
	}
	for _, l := range lines {
		var doc struct {
			AWS struct {
				Timestamp         int64
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
		}
		raw := map[string]any{}
		if err := json.Unmarshal([]byte(l), &doc); err != nil || json.Unmarshal([]byte(l), &raw) != nil {
			t.Fatalf("not JSON: %s", l)
		}
		m := doc.AWS.CloudWatchMetrics
		if doc.AWS.Timestamp != 1795980000000 || len(m) != 1 || m[0].Namespace != "replaudit" || len(m[0].Metrics) != 1 {
			t.Fatalf("not embedded metric format: %s", l)
		}
		name := m[0].Metrics[0].Name
		if _, ok := raw[name]; !ok {
			t.Errorf("the line names metric %s but carries no value for it: %s", name, l)
		}
		for _, d := range m[0].Dimensions[0] {
			if _, ok := raw[d]; !ok {
				t.Errorf("the line names dimension %s but carries no value for it: %s", d, l)
			}
		}
	}
	if tl.Get("Findings", "Verdict", "VERIFIED") != 2 || tl.Get("AlertsUnsent") != 1 {
		t.Error("Get does not read back the counts")
	}
}
