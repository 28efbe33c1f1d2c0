package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ErrNoRIE says that the Lambda Runtime Interface Emulator was asked for and
// is missing.
var ErrNoRIE = errors.New("aws-lambda-rie is not built: run `make tools`, or set REPLAUDIT_RIE to its path")

// FindRIE returns the emulator: $REPLAUDIT_RIE, or the one make tools
// built. It returns ErrNoRIE when there is none.
func FindRIE() (string, error) {
	return findTool("REPLAUDIT_RIE", filepath.Join("bin", "aws-lambda-rie"), ErrNoRIE)
}

// Emulated is a bootstrap binary running under its own Lambda Runtime
// Interface Emulator. The emulator serves one invocation at a time: start
// one per concurrent worker.
type Emulated struct {
	RIEFunction
	cmd  *exec.Cmd
	done chan struct{}
}

// EmulatorOptions describe a function to run under the emulator.
type EmulatorOptions struct {
	// Bootstrap is the function's executable.
	Bootstrap string
	// Env is added to the function's environment (KEY=value), such as the
	// sandbox's endpoints.
	Env []string
	// Output receives the emulator's and the function's logs; nil discards them.
	Output io.Writer
}

// StartEmulated runs a bootstrap under aws-lambda-rie on free loopback
// ports. Close stops it.
func StartEmulated(ctx context.Context, o EmulatorOptions) (*Emulated, error) {
	bootstrap := o.Bootstrap
	rie, err := FindRIE()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bootstrap); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	invokeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", runtimeAddr, bootstrap)
	cmd.Env = append(append(os.Environ(), "LOG_LEVEL=warn"), o.Env...)
	if o.Output != nil {
		cmd.Stdout, cmd.Stderr = o.Output, o.Output
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	e := &Emulated{RIEFunction: RIEFunction{Endpoint: "http://" + invokeAddr}, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(e.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", invokeAddr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return e, nil
		}
		select {
		case <-e.done:
			return nil, errors.New("aws-lambda-rie exited at start")
		case <-ctx.Done():
			e.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Close()
			return nil, errors.New("aws-lambda-rie did not listen within 10s")
		}
	}
}

// Close stops the emulator and its function.
func (e *Emulated) Close() error {
	_ = e.cmd.Process.Signal(terminateSignal)
	select {
	case <-e.done:
	case <-time.After(3 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
