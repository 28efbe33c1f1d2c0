package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoDynalite says that DynamoDB was asked for and dynalite is missing.
var ErrNoDynalite = errors.New("dynalite is not installed: run `make tools` (it needs node and npm), or set REPLAUDIT_DYNALITE to its cli.js")

// findTool finds a tool the Makefile installs: the path in the environment
// variable env, else rel under .tools in this folder or one above it.
func findTool(env, rel string, missing error) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, p, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, ".tools", rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", missing
		}
		dir = parent
	}
}

// FindDynalite returns dynalite's cli.js: $REPLAUDIT_DYNALITE, or the one
// make tools installed. It returns ErrNoDynalite when there is none.
func FindDynalite() (string, error) {
	return findTool("REPLAUDIT_DYNALITE", filepath.Join("node_modules", "dynalite", "cli.js"), ErrNoDynalite)
}

// dynalite is a child dynalite process, in memory, on a loopback port.
type dynalite struct {
	cmd    *exec.Cmd
	url    *url.URL
	done   chan struct{}
	stderr *lockedBuffer
	exit   error // how the process ended, once done is closed
}

// lockedBuffer is dynalite's stderr, written by the process's copier and
// read when it exits.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// exited says why dynalite is gone, or "" while it runs: the error a call
// then gets names the cause rather than a refused connection alone.
func (d *dynalite) exited() string {
	select {
	case <-d.done:
	default:
		return ""
	}
	tail := strings.TrimSpace(d.stderr.String())
	if len(tail) > 2000 {
		tail = "…" + tail[len(tail)-2000:]
	}
	return fmt.Sprintf("dynalite exited (%v): %s", d.exit, tail)
}

func startDynalite(ctx context.Context) (*dynalite, error) {
	// The port is free when chosen, but another process may take it before
	// dynalite binds it: then dynalite exits at start, and another is tried.
	var err error
	for try := 0; try < 3; try++ {
		var d *dynalite
		if d, err = startDynaliteOnce(ctx); err == nil || !strings.Contains(err.Error(), "EADDRINUSE") {
			return d, err
		}
	}
	return nil, err
}

func startDynaliteOnce(ctx context.Context) (*dynalite, error) {
	cli, err := FindDynalite()
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node is not installed: DynamoDB in the sandbox runs dynalite on Node.js (apt-get install nodejs npm)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// Tables become ACTIVE after 50ms rather than dynalite's default 500ms.
	cmd := exec.Command(node, cli, "--port", fmt.Sprint(port), "--host", "127.0.0.1",
		"--createTableMs", "50", "--deleteTableMs", "50", "--updateTableMs", "50")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	d := &dynalite{cmd: cmd, done: make(chan struct{}), stderr: stderr}
	d.url, _ = url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { d.exit = cmd.Wait(); close(d.done) }()
	select {
	case <-ready:
		return d, nil
	case <-d.done:
		return nil, fmt.Errorf("dynalite exited at start: %s", strings.TrimSpace(stderr.String()))
	case <-time.After(15 * time.Second):
		d.stop()
		return nil, errors.New("dynalite did not start within 15s")
	case <-ctx.Done():
		d.stop()
		return nil, ctx.Err()
	}
}

// stop ends dynalite with SIGTERM, then SIGKILL after a grace period.
func (d *dynalite) stop() {
	if d == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(terminateSignal)
	select {
	case <-d.done:
	case <-time.After(3 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// dynamoProxy forwards DynamoDB calls to dynalite. It adds what dynalite
// 4.0.0 lacks: the old item on a failed condition check (see oldItems).
func (sb *Sandbox) dynamoProxy(d *dynalite) http.Handler {
	proxy := httputil.NewSingleHostReverseProxy(d.url)
	// A connection to dynalite per call: one its Transport closes early (an
	// answer its caller stopped reading) is never the one dynalite is
	// reading the next call from, which would abort that call, and dynalite
	// exits on an aborted request.
	proxy.Transport = &http.Transport{DisableKeepAlives: true}
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		msg := err.Error()
		if why := d.exited(); why != "" {
			msg += "; " + why
		}
		sb.writeServiceError(w, r, "dynamodb", http.StatusInternalServerError, "InternalServerError", msg)
	}
	old := newOldItems(d)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		var req writeRequest
		body := bufferBody(r)
		if r.ContentLength >= 0 && int64(len(body)) != r.ContentLength {
			// The caller went away during its upload: DynamoDB never got
			// the call. Passing on the part that came would make dynalite,
			// which exits on a request aborted while it reads it, fail.
			sb.writeServiceError(w, r, "dynamodb", http.StatusBadRequest, "SerializationException", "the request's body ended early")
			return
		}
		_ = json.Unmarshal(body, &req)
		// A call that reached DynamoDB completes there, whether or not its
		// caller waits for the answer, as on AWS, and dynalite is never
		// aborted mid-request.
		r = r.WithContext(context.WithoutCancel(r.Context()))
		switch op {
		case "CreateTable", "DeleteTable":
			old.forget(req.TableName)
		case "PutItem", "UpdateItem", "DeleteItem":
			if req.ReturnValuesOnConditionCheckFailure == "ALL_OLD" {
				answer := newResponseBuffer()
				proxy.ServeHTTP(answer, r)
				if err := old.add(r.Context(), op, req, answer); err != nil {
					sb.log.Warn("dynamodb: no old item for a failed condition check", "table", req.TableName, "err", err)
				}
				answer.copyTo(w)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	})
}

// writeRequest holds the parts of a PutItem, UpdateItem or DeleteItem
// request that finding its item needs.
type writeRequest struct {
	TableName                           string
	Key                                 map[string]json.RawMessage
	Item                                map[string]json.RawMessage
	ReturnValuesOnConditionCheckFailure string
}

// oldItems adds the item to ConditionalCheckFailedException answers, as
// DynamoDB does when a write asks for ReturnValuesOnConditionCheckFailure
// ALL_OLD and dynalite does not. It reads the item after the failed write,
// with a consistent read, which is the item the condition saw unless
// another write came in between. dynalite ignores the parameter itself.
type oldItems struct {
	d  *dynalite
	mu sync.Mutex
	// keys caches each table's key attribute names, to cut a PutItem's key
	// out of its item.
	keys map[string][]string
}

func newOldItems(d *dynalite) *oldItems { return &oldItems{d: d, keys: map[string][]string{}} }

func (o *oldItems) forget(table string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.keys, table)
}

// add puts the item into answer when answer is a failed condition check and
// the item exists.
func (o *oldItems) add(ctx context.Context, op string, req writeRequest, answer *responseBuffer) error {
	if answer.status != http.StatusBadRequest {
		return nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(answer.body.Bytes(), &doc); err != nil {
		return nil // not an error document dynalite wrote
	}
	var kind string
	_ = json.Unmarshal(doc["__type"], &kind)
	if !strings.HasSuffix(kind, "#ConditionalCheckFailedException") {
		return nil
	}
	key := req.Key
	if op == "PutItem" {
		names, err := o.keyNames(ctx, req.TableName)
		if err != nil {
			return err
		}
		key = map[string]json.RawMessage{}
		for _, n := range names {
			key[n] = req.Item[n]
		}
	}
	var got struct{ Item json.RawMessage }
	if err := o.d.call(ctx, "GetItem", map[string]any{"TableName": req.TableName, "Key": key, "ConsistentRead": true}, &got); err != nil {
		return fmt.Errorf("get item: %w", err)
	}
	if len(got.Item) == 0 || string(got.Item) == "null" {
		return nil
	}
	doc["Item"] = got.Item
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	answer.body.Reset()
	answer.body.Write(body)
	answer.header.Set("Content-Length", strconv.Itoa(len(body)))
	// The SDK checks the body against dynalite's CRC32 header.
	answer.header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	return nil
}

// keyNames returns the names of a table's key attributes.
func (o *oldItems) keyNames(ctx context.Context, table string) ([]string, error) {
	o.mu.Lock()
	names, ok := o.keys[table]
	o.mu.Unlock()
	if ok {
		return names, nil
	}
	var out struct {
		Table struct {
			KeySchema []struct{ AttributeName string }
		}
	}
	if err := o.d.call(ctx, "DescribeTable", map[string]string{"TableName": table}, &out); err != nil {
		return nil, fmt.Errorf("describe table %s: %w", table, err)
	}
	for _, k := range out.Table.KeySchema {
		names = append(names, k.AttributeName)
	}
	o.mu.Lock()
	o.keys[table] = names
	o.mu.Unlock()
	return names, nil
}

// call makes one DynamoDB call to dynalite on the sandbox's own behalf. It
// is not counted in Calls: DynamoDB makes such reads inside the service.
func (d *dynalite) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
	// dynalite wants a well-formed SigV4 header and checks no signature.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+AccessKeyID+"/"+now.Format("20060102")+"/"+defaultRegion+
		"/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("dynalite answered %s to %s: %s", resp.Status, op, bytes.TrimSpace(raw))
	}
	return json.Unmarshal(raw, out)
}
