package setup_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/replaudit/replaudit/internal/setup"
)

func TestSampleRequestsAreWhatTheFunctionAccepts(t *testing.T) {
	for _, name := range []string{"cfn-create.json", "cfn-update.json", "cfn-delete.json"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
			if err != nil {
				t.Fatal(err)
			}
			var ev cfn.Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			back, _ := json.Marshal(ev)
			var a, b map[string]any
			_ = json.Unmarshal(raw, &a)
			_ = json.Unmarshal(back, &b)
			delete(a, "ServiceToken") // not a field of cfn.Event; Lambda passes it through
			if !reflect.DeepEqual(a, b) {
				t.Errorf("cfn.Event does not round-trip the sample:\n%s\n%s", raw, back)
			}
			if _, err := setup.ParseProperties(ev.ResourceProperties); err != nil {
				t.Errorf("properties: %v", err)
			}
			if ev.RequestType != cfn.RequestCreate && ev.PhysicalResourceID == "" {
				t.Error("an Update or Delete needs a PhysicalResourceId")
			}
		})
	}
}
