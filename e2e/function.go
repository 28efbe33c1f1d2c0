package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/stack"
)

// Function is an AWS::Serverless::Function running its bootstrap under
// the Lambda Runtime Interface Emulator. An emulator serves one
// invocation at a time, so invocations wait their turn.
type Function struct {
	LogicalID string
	// Name and ARN are the function's physical name and ARN.
	Name, ARN string
	// Config is the function's resolved configuration; an update replaces
	// it, between invocations.
	Config *stack.FunctionConfig

	bootstrap string
	output    io.Writer
	sandbox   *sandbox.Sandbox

	// invoking is held for each invocation, and by start and stop, which
	// wait for the one in flight; mu guards emu and env.
	invoking sync.Mutex
	mu       sync.Mutex
	emu      *sandbox.Emulated
	env      []string
}

// Env is the environment the function runs with, KEY=value, sorted: its
// resolved Environment.Variables, what Lambda sets from its configuration,
// and the sandbox's endpoints and credentials.
func (f *Function) Env() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.env...)
}

// environment is what Lambda gives the function's process.
func (f *Function) environment() []string {
	c := f.Config
	vars := map[string]string{}
	for k, v := range c.Environment {
		vars[k] = v
	}
	// What Lambda itself sets from the function's configuration; the
	// emulator reads the timeout for the invocation's deadline.
	vars["AWS_LAMBDA_FUNCTION_NAME"] = f.Name
	vars["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.Itoa(c.Timeout)
	if c.Timeout == 0 {
		vars["AWS_LAMBDA_FUNCTION_TIMEOUT"] = "3" // Lambda's default
	}
	if c.MemorySize > 0 {
		vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(c.MemorySize)
	}
	if format := c.LoggingConfig["LogFormat"]; format != "" {
		vars["AWS_LAMBDA_LOG_FORMAT"] = format
		if level := c.LoggingConfig["ApplicationLogLevel"]; format == "JSON" && level != "" {
			vars["AWS_LAMBDA_LOG_LEVEL"] = level
		}
	}
	for _, kv := range f.sandbox.Env() {
		vars[kv[0]] = kv[1]
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// start runs the function's bootstrap with a configuration, once the
// invocation in flight, if any, is over, stopping the one running before.
func (f *Function) start(ctx context.Context, c *stack.FunctionConfig) error {
	f.invoking.Lock()
	defer f.invoking.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Config = c
	if f.emu != nil {
		_ = f.emu.Close()
		f.emu = nil
	}
	f.env = f.environment()
	emu, err := sandbox.StartEmulated(ctx, sandbox.EmulatorOptions{Bootstrap: f.bootstrap, Env: f.env, Output: f.output})
	if err != nil {
		return fmt.Errorf("start %s under the emulator: %w", f.LogicalID, err)
	}
	f.emu = emu
	return nil
}

func (f *Function) stop() {
	f.invoking.Lock()
	defer f.invoking.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.emu != nil {
		_ = f.emu.Close()
		f.emu = nil
	}
}

// errStopped: the function was deleted with its stack.
var errStopped = errors.New("the function is not running: it was deleted")

// InvokeJSON invokes the function with any event and returns its result;
// a function error is an error. It waits for the invocation before it,
// and gives this one the function's Timeout.
func (f *Function) InvokeJSON(ctx context.Context, payload []byte) ([]byte, error) {
	f.invoking.Lock()
	defer f.invoking.Unlock()
	f.mu.Lock()
	emu := f.emu
	f.mu.Unlock()
	if emu == nil {
		return nil, fmt.Errorf("%s: %w", f.LogicalID, errStopped)
	}
	timeout := time.Duration(f.Config.Timeout)*time.Second + 5*time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := emu.InvokeJSON(ctx, payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.LogicalID, err)
	}
	return out, nil
}

// mapping is what an event source mapping invokes: the function, until
// the mapping is deleted. The sandbox cannot remove a mapping, so a
// deleted one fails its batches, which return to the queue.
type mapping struct {
	fn      *Function
	deleted atomic.Bool
}

var _ sandbox.Function = (*mapping)(nil)

func (m *mapping) Invoke(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var out events.SQSEventResponse
	if m.deleted.Load() {
		return out, errors.New("the event source mapping was deleted")
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return out, err
	}
	body, err := m.fn.InvokeJSON(ctx, payload)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("%s answered what is not an SQSEventResponse: %w", m.fn.LogicalID, err)
	}
	return out, nil
}

// Schedule is a function's Schedule or ScheduleV2 event: the test fires
// it when it wants a run, with the scheduler's event.
type Schedule struct {
	// LogicalID is the AWS::Scheduler::Schedule SAM generates for it.
	LogicalID  string
	Function   *Function
	Name, ARN  string
	Expression string

	stack   *Stack
	deleted atomic.Bool
}

// Fire invokes the function with the event the scheduler sends, built on
// events/schedule.json.
func (sc *Schedule) Fire(ctx context.Context) ([]byte, error) {
	if sc.deleted.Load() {
		return nil, fmt.Errorf("schedule %s was deleted", sc.Name)
	}
	raw, err := os.ReadFile(filepath.Join(sc.stack.opts.Events, "schedule.json"))
	if err != nil {
		return nil, err
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("schedule.json: %w", err)
	}
	known := map[string]bool{"version": true, "id": true, "detail-type": true, "source": true, "account": true, "time": true, "region": true, "resources": true, "detail": true}
	for k := range ev {
		if !known[k] {
			return nil, fmt.Errorf("events/schedule.json has a field %q the provisioner does not set", k)
		}
	}
	p := sc.stack.resolved.Pseudo
	ev["id"] = newRequestID()
	ev["time"] = time.Now().UTC().Format(time.RFC3339)
	ev["account"] = p["AWS::AccountId"]
	ev["region"] = p["AWS::Region"]
	ev["resources"] = []string{sc.ARN}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return sc.Function.InvokeJSON(ctx, payload)
}

// prefixed writes whole lines, each after a prefix naming its function.
type prefixed struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := append([]byte(p.prefix), p.buf[:i+1]...)
		p.buf = p.buf[i+1:]
		if _, err := p.w.Write(line); err != nil {
			return len(b), err
		}
	}
}
