//go:build cgo

package main

import (
	"github.com/replaudit/replaudit/internal/verify"
	"github.com/replaudit/replaudit/internal/verify/duck"
)

// DuckDB is C++ linked through cgo: a replaudit built with CGO_ENABLED=0
// has no embedded engine (engine_noduckdb.go), and verifies on Athena.

// newDuckEngine opens the embedded engine, within memory (DuckDB spills
// the rest to disk); progress, if set, is told of each byte downloaded.
func newDuckEngine(memory string, progress func(int64)) (verify.Engine, func() error, error) {
	e, err := duck.New(duck.Options{Progress: progress, MemoryLimit: memory})
	if err != nil {
		return nil, nil, err
	}
	return e, e.Close, nil
}

// sandboxAthena gives the sandbox's Athena its DuckDB.
var sandboxAthena = duck.OpenDB
