package duck

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/duckdb/duckdb-go/v2" // the database/sql driver "duckdb"

	"github.com/replaudit/replaudit/internal/inventory"
	"github.com/replaudit/replaudit/internal/verify"
)

// OpenDB opens an in-memory DuckDB database.
func OpenDB() (*sql.DB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	return db, nil
}

// The views the verification's SQL reads.
const (
	SourceView      = "source_inventory"
	DestinationView = "destination_inventory"
)

// Options configure an Engine.
type Options struct {
	// Dir is where data files are downloaded; a new temporary folder by
	// default, removed by Close.
	Dir string
	// Workers is how many files download at once; default 8.
	Workers int
	// Progress, if set, is told of each byte downloaded.
	Progress func(int64)
	// MemoryLimit caps DuckDB's memory ("4GB"); DuckDB spills the join
	// to Dir beyond it. Default: DuckDB's, 80% of the machine's memory.
	MemoryLimit string
}

// Engine is DuckDB as the verification's engine.
type Engine struct {
	db      *sql.DB
	opts    Options
	ownDir  bool
	scanned int64
}

var _ verify.Engine = (*Engine)(nil)

// New opens an engine on an in-memory database.
func New(o Options) (*Engine, error) {
	if o.Workers < 1 {
		o.Workers = 8
	}
	e := &Engine{opts: o}
	if e.opts.Dir == "" {
		dir, err := os.MkdirTemp("", "replaudit-verify-*")
		if err != nil {
			return nil, err
		}
		e.opts.Dir, e.ownDir = dir, true
	}
	db, err := OpenDB()
	if err != nil {
		e.Close()
		return nil, err
	}
	e.db = db
	// Rows come out in any order: the verifier sorts what it keeps.
	settings := []string{"SET preserve_insertion_order = false", "SET temp_directory = " + literal(filepath.Join(e.opts.Dir, "spill"))}
	if o.MemoryLimit != "" {
		settings = append(settings, "SET memory_limit = "+literal(o.MemoryLimit))
	}
	for _, s := range settings {
		if _, err := db.Exec(s); err != nil {
			e.Close()
			return nil, fmt.Errorf("duckdb: %s: %w", s, err)
		}
	}
	return e, nil
}

// Close closes the database and removes the files it downloaded.
func (e *Engine) Close() error {
	var err error
	if e.db != nil {
		err = e.db.Close()
	}
	if e.ownDir {
		err = errors.Join(err, os.RemoveAll(e.opts.Dir))
	}
	return err
}

// Scanned is how many bytes of data files the engine downloaded: what
// Athena would have read.
func (e *Engine) Scanned() int64 { return e.scanned }

// Tables downloads both inventories' data files, each checked, and
// creates the views the SQL reads.
func (e *Engine) Tables(ctx context.Context, src, dst verify.Inventory) (verify.Tables, error) {
	for _, side := range []struct {
		name string
		inv  verify.Inventory
	}{{SourceView, src}, {DestinationView, dst}} {
		paths, err := e.download(ctx, side.name, side.inv)
		if err != nil {
			return verify.Tables{}, err
		}
		if err := e.View(ctx, side.name, side.inv.Manifest, paths); err != nil {
			return verify.Tables{}, err
		}
	}
	return verify.Tables{Source: quote(SourceView), Destination: quote(DestinationView)}, nil
}

// View creates (or replaces) a view over data files of m on local disk.
func (e *Engine) View(ctx context.Context, name string, m inventory.Manifest, paths []string) error {
	scan, err := inventory.DuckDBScan(m, paths)
	if err != nil {
		return err
	}
	if _, err := e.db.ExecContext(ctx, "CREATE OR REPLACE VIEW "+quote(name)+" AS SELECT * FROM "+scan); err != nil {
		return fmt.Errorf("duckdb: read the inventory of %s: %w", m.SourceBucket, err)
	}
	return nil
}

// download copies an inventory's data files into a folder of their own,
// checking each; a file that is not the manifest's is an error.
func (e *Engine) download(ctx context.Context, name string, inv verify.Inventory) ([]string, error) {
	dir := filepath.Join(e.opts.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ext := ".csv.gz"
	if inv.Format() == inventory.FormatParquet {
		ext = ".parquet"
	}
	paths := make([]string, len(inv.Manifest.Files))
	errs := make([]error, len(inv.Manifest.Files))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, e.opts.Workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, f := range inv.Manifest.Files {
		paths[i] = filepath.Join(dir, strconv.Itoa(i)+ext)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n, err := fetch(ctx, inv, f, paths[i], e.opts.Progress)
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			mu.Lock()
			e.scanned += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return paths, nil
}

func fetch(ctx context.Context, inv verify.Inventory, f inventory.File, path string, progress func(int64)) (int64, error) {
	out, err := inv.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(inv.Bucket), Key: aws.String(f.Key)})
	if err != nil {
		return 0, fmt.Errorf("read s3://%s/%s: %w", inv.Bucket, f.Key, err)
	}
	defer out.Body.Close()
	file, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	var w interface{ Write([]byte) (int, error) } = file
	if progress != nil {
		w = progressWriter{file, progress}
	}
	n, err := inventory.CopyFile(w, out.Body, f)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("s3://%s/%s: %w", inv.Bucket, f.Key, err)
	}
	return n, nil
}

type progressWriter struct {
	f      *os.File
	report func(int64)
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	p.report(int64(n))
	return n, err
}

// Query runs a statement and streams its rows as strings.
func (e *Engine) Query(ctx context.Context, query string, row func([]string) error) error {
	rows, err := e.db.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("duckdb: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("duckdb: %w", err)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	out := make([]string, len(cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("duckdb: %w", err)
		}
		for i, v := range vals {
			out[i] = v.String
		}
		if err := row(out); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("duckdb: %w", err)
	}
	return nil
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quote makes an identifier of a name.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
