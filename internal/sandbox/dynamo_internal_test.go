package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMissingDynamoDBToolsAreNamedInOneSentence(t *testing.T) {
	t.Run("no node", func(t *testing.T) {
		cli := filepath.Join(t.TempDir(), "cli.js")
		if err := os.WriteFile(cli, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("REPLAUDIT_DYNALITE", cli)
		t.Setenv("PATH", t.TempDir())
		_, err := Start(context.Background(), Options{DynamoDB: true})
		if err == nil || !strings.Contains(err.Error(), "node is not installed") {
			t.Errorf("got %v, want a sentence saying node is missing", err)
		}
	})
	t.Run("no dynalite", func(t *testing.T) {
		t.Setenv("REPLAUDIT_DYNALITE", "")
		t.Chdir(t.TempDir())
		_, err := Start(context.Background(), Options{DynamoDB: true})
		if !errors.Is(err, ErrNoDynalite) || !strings.Contains(err.Error(), "make tools") {
			t.Errorf("got %v, want ErrNoDynalite naming make tools", err)
		}
	})
}
