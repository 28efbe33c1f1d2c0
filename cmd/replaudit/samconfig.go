package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"strings"
)

// samconfigFile is where `sam deploy` keeps its defaults, in the directory
// it runs in.
const samconfigFile = "samconfig.toml"

// samconfigStack returns the stack_name `sam deploy` would use from the
// samconfig.toml at path: that of [default.deploy.parameters], else that of
// [default.global.parameters]; "" when there is none or the file cannot be
// read. go.mod holds no TOML library, so this reads only what it needs:
// table headers and `stack_name = "..."` (or '...') lines, in the first
// 1 MiB. Anything else in the file is skipped, not interpreted.
func samconfigStack(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	names := map[string]string{}
	table := ""
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			table = strings.TrimSpace(strings.Trim(line, "[]"))
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(key) != "stack_name" {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') {
			if end := strings.IndexByte(value[1:], value[0]); end > 0 {
				names[table] = value[1 : end+1]
			}
		}
	}
	if name := names["default.deploy.parameters"]; name != "" {
		return name
	}
	return names["default.global.parameters"]
}

type sdkLogKey struct{}

// withSDKLog asks the AWS SDK clients a command builds to log their
// requests and retries to w (--debug).
func withSDKLog(ctx context.Context, w io.Writer) context.Context {
	return context.WithValue(ctx, sdkLogKey{}, w)
}

func sdkLog(ctx context.Context) io.Writer {
	w, _ := ctx.Value(sdkLogKey{}).(io.Writer)
	return w
}
