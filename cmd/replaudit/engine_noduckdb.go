//go:build !cgo

package main

import (
	"database/sql"

	"github.com/replaudit/replaudit/internal/verify"
)

func newDuckEngine(string, func(int64)) (verify.Engine, func() error, error) {
	return nil, nil, usageErrorf("--engine duckdb: this replaudit was built without cgo, so without DuckDB; pass --engine athena, or build with CGO_ENABLED=1")
}

// sandboxAthena is nil: the sandbox's Athena answers ServiceUnavailable.
var sandboxAthena func() (*sql.DB, error)
