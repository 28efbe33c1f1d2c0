package sandbox

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// stacks answers CloudFormation's DescribeStacks for stacks a test or the
// demo declares with PutStack, so tools that find resources through stack
// outputs work on the sandbox. It deploys nothing.
type stacks struct {
	mu      sync.Mutex
	outputs map[string]map[string]string
	created map[string]time.Time
}

func newStacks() *stacks {
	return &stacks{outputs: map[string]map[string]string{}, created: map[string]time.Time{}}
}

// PutStack declares a stack and its outputs.
func (sb *Sandbox) PutStack(name string, outputs map[string]string) {
	sb.stacks.mu.Lock()
	defer sb.stacks.mu.Unlock()
	sb.stacks.outputs[name] = outputs
	sb.stacks.created[name] = sb.now()
}

func (st *stacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action, name := r.PostForm.Get("Action"), r.PostForm.Get("StackName")
	w.Header().Set("Content-Type", "text/xml")
	if action != "DescribeStacks" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>The sandbox answers DescribeStacks only, not %s</Message></Error></ErrorResponse>`, escape(action))
		return
	}
	st.mu.Lock()
	outputs, ok := st.outputs[name]
	created := st.created[name]
	st.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id %s does not exist</Message></Error></ErrorResponse>`, escape(name))
		return
	}
	keys := make([]string, 0, len(outputs))
	for k := range outputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "<member><OutputKey>%s</OutputKey><OutputValue>%s</OutputValue></member>", escape(k), escape(outputs[k]))
	}
	fmt.Fprintf(w, `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>`+
		`<StackName>%s</StackName><StackId>arn:aws:cloudformation:us-east-1:%s:stack/%s/sandbox</StackId><StackStatus>CREATE_COMPLETE</StackStatus>`+
		`<CreationTime>%s</CreationTime><Outputs>%s</Outputs></member></Stacks></DescribeStacksResult>`+
		`<ResponseMetadata><RequestId>sandbox</RequestId></ResponseMetadata></DescribeStacksResponse>`,
		escape(name), Account, escape(name), created.UTC().Format(time.RFC3339), b.String())
}
