package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Builder builds each function's bootstrap as sam build does, through the
// Makefile's build-<LogicalId> target, once per folder. Only the
// architecture differs: the emulator runs the binary on this machine, so
// it is built for this machine's rather than the template's arm64.
type Builder struct {
	// Root is the repository: its Makefile and functions/.
	Root string
	// Dir receives one folder per function, holding its bootstrap.
	Dir string

	mu      sync.Mutex
	folders map[string]string // LogicalId: folder, from the Makefile
	builds  map[string]*build // by folder
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Folders reads the Makefile's FUNCTIONS list: each function's LogicalId
// and its folder under functions/.
func (b *Builder) Folders() (map[string]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.folders != nil {
		return b.folders, nil
	}
	out, err := exec.Command("make", "-s", "-C", b.Root, "--no-print-directory",
		"--eval", "e2e-print-functions: ; @echo $(FUNCTIONS)", "e2e-print-functions").Output()
	if err != nil {
		return nil, fmt.Errorf("read FUNCTIONS from the Makefile: %w", err)
	}
	folders := map[string]string{}
	for _, pair := range strings.Fields(string(out)) {
		id, folder, ok := strings.Cut(pair, ":")
		if !ok || id == "" || folder == "" {
			return nil, fmt.Errorf("the Makefile's FUNCTIONS entry %q is not LogicalId:folder", pair)
		}
		folders[id] = folder
	}
	b.folders = folders
	return folders, nil
}

// Bootstrap returns the path of a function's bootstrap, building it the
// first time its folder is asked for.
func (b *Builder) Bootstrap(ctx context.Context, logicalID string) (string, error) {
	folders, err := b.Folders()
	if err != nil {
		return "", err
	}
	folder, ok := folders[logicalID]
	if !ok {
		return "", fmt.Errorf("%s has no LogicalId:folder entry in the Makefile's FUNCTIONS", logicalID)
	}
	b.mu.Lock()
	if b.builds == nil {
		b.builds = map[string]*build{}
	}
	bd, ok := b.builds[folder]
	if !ok {
		bd = &build{}
		b.builds[folder] = bd
	}
	b.mu.Unlock()
	bd.once.Do(func() { bd.path, bd.err = b.make(ctx, logicalID, folder) })
	return bd.path, bd.err
}

// BuildAll builds every function in the Makefile's FUNCTIONS: one first,
// alone, then the others at once. Separate go builds share no work in
// flight, so on a cold cache the first compiles the dependencies they
// share and the others only link.
func (b *Builder) BuildAll(ctx context.Context) error {
	folders, err := b.Folders()
	if err != nil {
		return err
	}
	ids := sortedKeys(folders)
	if len(ids) == 0 {
		return errors.New("the Makefile's FUNCTIONS lists no function")
	}
	if _, err := b.Bootstrap(ctx, ids[0]); err != nil {
		return err
	}
	errs := make(chan error, len(ids))
	for _, id := range ids[1:] {
		go func() {
			_, err := b.Bootstrap(ctx, id)
			errs <- err
		}()
	}
	var first error
	for range ids[1:] {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (b *Builder) make(ctx context.Context, logicalID, folder string) (string, error) {
	dir := filepath.Join(b.Dir, folder)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "make", "-s", "-C", b.Root, "--no-print-directory", "build-"+logicalID,
		"ARTIFACTS_DIR="+dir, "LAMBDA_ENV=CGO_ENABLED=0 GOOS=linux GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make build-%s: %w\n%s", logicalID, err, out)
	}
	path := filepath.Join(dir, "bootstrap")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("make build-%s wrote no bootstrap: %w", logicalID, err)
	}
	return path, nil
}
