package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	cmd  *exec.Cmd
	url  *url.URL
	done chan struct{}
}

func startDynalite(ctx context.Context) (*dynalite, error) {
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
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	d := &dynalite{cmd: cmd, done: make(chan struct{})}
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
	go func() { _ = cmd.Wait(); close(d.done) }()
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

// dynamoProxy forwards DynamoDB calls to dynalite, counting them by
// operation and table.
func (sb *Sandbox) dynamoProxy(target *url.URL) http.Handler {
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": err.Error()})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req struct{ TableName string }
		_ = json.Unmarshal(body, &req)
		_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		sb.calls.add("dynamodb", op, req.TableName)
		proxy.ServeHTTP(w, r)
	})
}
