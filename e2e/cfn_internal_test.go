package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
)

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRequestsHaveTheFieldsOfCloudFormationsOwn builds each request type
// and holds it to events/: the same fields, every property a string.
func TestRequestsHaveTheFieldsOfCloudFormationsOwn(t *testing.T) {
	props := map[string]any{
		"ServiceToken": "arn:aws:lambda:us-east-1:000000000000:function:f", "ServiceTimeout": 300, "Metrics": true,
		"Destinations": []any{map[string]any{"Bucket": "b", "CreateIfMissing": false}},
	}
	for typ, fixture := range requestFixtures {
		t.Run(string(typ), func(t *testing.T) {
			c := customRequest{requestType: typ, stackID: "arn:aws:cloudformation:us-east-1:000000000000:stack/s/1", logicalID: "R",
				resourceType: "Custom::Thing", physicalID: "p", serviceToken: "arn:aws:lambda:us-east-1:000000000000:function:f", properties: props, old: props}
			raw, err := c.payload("../events", "http://127.0.0.1:1/x", "id-1")
			if err != nil {
				t.Fatal(err)
			}
			var got, want map[string]any
			_ = json.Unmarshal(raw, &got)
			fix, err := os.ReadFile("../events/" + fixture)
			if err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal(fix, &want)
			if !reflect.DeepEqual(keysOf(got), keysOf(want)) {
				t.Errorf("fields: got %v, want %v", keysOf(got), keysOf(want))
			}
			var ev cfn.Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			wantProps := map[string]any{
				"ServiceToken": "arn:aws:lambda:us-east-1:000000000000:function:f", "ServiceTimeout": "300", "Metrics": "true",
				"Destinations": []any{map[string]any{"Bucket": "b", "CreateIfMissing": "false"}},
			}
			if ev.RequestType != typ || ev.RequestID != "id-1" || !reflect.DeepEqual(ev.ResourceProperties, wantProps) {
				t.Errorf("request: %+v", ev)
			}
		})
	}
}

func TestTheResponseURLTakesOneAnswerOfAtMost4096Bytes(t *testing.T) {
	r := newResponder()
	defer r.close()
	put := func(url, body string) int {
		req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	url, answered := r.expect("big")
	if code := put(url, `{"Status":"SUCCESS","Reason":"`+strings.Repeat("x", 4096)+`"}`); code != http.StatusBadRequest {
		t.Errorf("an answer over 4096 bytes: %d", code)
	}
	if a := <-answered; a.err == nil || !strings.Contains(a.err.Error(), "4096") {
		t.Errorf("an answer over 4096 bytes: %+v", a)
	}

	url, answered = r.expect("ok")
	if code := put(url, `{"Status":"SUCCESS","PhysicalResourceId":"p","RequestId":"ok"}`); code != http.StatusOK {
		t.Errorf("an answer: %d", code)
	}
	if a := <-answered; a.err != nil || a.resp.PhysicalResourceID != "p" {
		t.Errorf("an answer: %+v", a)
	}
	if code := put(url, `{"Status":"FAILED"}`); code != http.StatusForbidden {
		t.Errorf("a second answer: %d", code)
	}
}
