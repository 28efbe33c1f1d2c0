package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaudit/replaudit/internal/inventory"
)

// athenaServer answers Amazon Athena's JSON protocol (awsJson1_1,
// X-Amz-Target AmazonAthena.<Operation>) for the calls a query makes:
// StartQueryExecution, GetQueryExecution, GetQueryResults (paged, the
// header row first, as Athena does) and StopQueryExecution. Queries run on
// DuckDB, which the sandbox gets from Options.Athena, so that the sandbox
// itself links no cgo; without it every call answers ServiceUnavailable.
//
// Tables are Glue tables over an S3 Inventory's hive symlinks, partitioned
// by dt, as AWS documents them for inventories: CreateAthenaTable makes
// one from an inventory's manifest. Each query reads the symlinks as they
// are then, so a later inventory is a new partition. Data scanned is the
// bytes of the data files of the partitions the query names.
type athenaServer struct {
	sb     *Sandbox
	nextID atomic.Uint64

	mu      sync.Mutex
	db      *sql.DB
	dir     string
	tables  map[string]athenaTable // by database.table
	queries map[string]*athenaQuery
	fault   AthenaFault
	changed chan struct{} // closed and replaced when the fault changes
	run     sync.Mutex    // one query at a time: views are replaced per query
}

type athenaTable struct {
	database, name string
	bucket, hive   string // the hive folder: <bucket>/<prefix>/<source>/<id>/hive/
	format, schema string
}

type athenaQuery struct {
	id, sql, database, workgroup, output string
	state, reason                        string
	submitted, completed                 time.Time
	scanned                              int64
	columns                              []string
	rows                                 [][]*string
	stop                                 chan struct{}
}

// AthenaFault makes the sandbox's Athena queries fail or hang.
type AthenaFault struct {
	// Fail ends every query FAILED with this reason.
	Fail string
	// Hang keeps every query RUNNING until the fault is lifted or the
	// query stopped.
	Hang bool
}

func newAthenaServer(sb *Sandbox) *athenaServer {
	return &athenaServer{sb: sb, tables: map[string]athenaTable{}, queries: map[string]*athenaQuery{}, changed: make(chan struct{})}
}

// SetAthenaFault sets how Athena queries end from now on, and for those
// held running; the zero AthenaFault lifts it.
func (sb *Sandbox) SetAthenaFault(f AthenaFault) {
	a := sb.athena
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fault = f
	close(a.changed)
	a.changed = make(chan struct{})
}

// CreateAthenaTable creates the Glue table database.name over the hive
// symlinks of the inventory whose manifest.json is at manifestURI (any
// inventory of its configuration: the table reads every dt partition),
// with the inventory's format and columns, as AWS documents such tables.
func (sb *Sandbox) CreateAthenaTable(database, name, manifestURI string) error {
	bucket, key, ok := strings.Cut(strings.TrimPrefix(manifestURI, "s3://"), "/")
	if !strings.HasPrefix(manifestURI, "s3://") || !ok || !strings.HasSuffix(key, "/manifest.json") {
		return fmt.Errorf("athena table %s: %q is not s3://bucket/.../manifest.json", name, manifestURI)
	}
	v, err := sb.store.lookup(bucket, key, "")
	if err != nil {
		return fmt.Errorf("athena table %s: read %s: %w", name, manifestURI, err)
	}
	var m inventory.Manifest
	if err := json.Unmarshal(v.body, &m); err != nil {
		return fmt.Errorf("athena table %s: %s: %w", name, manifestURI, err)
	}
	// <base>/<YYYY-MM-DDTHH-MMZ>/manifest.json; the symlinks are under <base>/hive/.
	base := path.Dir(path.Dir(key))
	a := sb.athena
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tables[database+"."+name] = athenaTable{database: database, name: name, bucket: bucket, hive: base + "/hive/", format: m.FileFormat, schema: m.FileSchema}
	return nil
}

// athenaError is an Athena error: InvalidRequestException for what the
// caller got wrong, InternalServerException for the sandbox's own.
type athenaError struct {
	status  int
	code    string
	message string
}

func (e *athenaError) Error() string { return e.code + ": " + e.message }

func athenaInvalid(format string, a ...any) *athenaError {
	return &athenaError{http.StatusBadRequest, "InvalidRequestException", fmt.Sprintf(format, a...)}
}

func (a *athenaServer) writeError(w http.ResponseWriter, e *athenaError) {
	body, _ := json.Marshal(map[string]string{"__type": e.code, "Message": e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("SANDBOX%013X", serviceRequestID.Add(1)))
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

func (a *athenaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonAthena.")
	if !ok {
		a.writeError(w, athenaInvalid("The sandbox's Athena speaks the JSON protocol: X-Amz-Target AmazonAthena.<Operation>, not %q.", r.Header.Get("X-Amz-Target")))
		return
	}
	if a.sb.opts.Athena == nil {
		a.sb.writeServiceError(w, r, "athena", http.StatusServiceUnavailable, "ServiceUnavailable", "the sandbox was started without Athena (Options.Athena)")
		return
	}
	body := bufferBody(r)
	var out any
	var err *athenaError
	switch op {
	case "StartQueryExecution":
		out, err = a.start(body)
	case "GetQueryExecution":
		out, err = a.get(body)
	case "GetQueryResults":
		out, err = a.results(body)
	case "StopQueryExecution":
		out, err = a.stopQuery(body)
	default:
		err = athenaInvalid("The sandbox's Athena does not implement %s.", op)
	}
	if err != nil {
		a.writeError(w, err)
		return
	}
	js, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(js)
}

func (a *athenaServer) start(body []byte) (any, *athenaError) {
	var in struct {
		QueryString           string
		WorkGroup             string
		QueryExecutionContext struct{ Database, Catalog string }
		ResultConfiguration   struct{ OutputLocation string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, athenaInvalid("%v", err)
	}
	if strings.TrimSpace(in.QueryString) == "" {
		return nil, athenaInvalid("QueryString is required.")
	}
	q := &athenaQuery{
		id:  fmt.Sprintf("%08x-0000-4000-8000-%012x", time.Now().Unix(), a.nextID.Add(1)),
		sql: in.QueryString, database: in.QueryExecutionContext.Database, workgroup: in.WorkGroup,
		output: in.ResultConfiguration.OutputLocation, state: "QUEUED", submitted: a.sb.now(), stop: make(chan struct{}),
	}
	if q.workgroup == "" {
		q.workgroup = "primary"
	}
	a.mu.Lock()
	a.queries[q.id] = q
	a.mu.Unlock()
	if !a.sb.spawn(func() { a.execute(q) }) {
		return nil, &athenaError{http.StatusInternalServerError, "InternalServerException", "the sandbox is closing"}
	}
	return map[string]string{"QueryExecutionId": q.id}, nil
}

func (a *athenaServer) query(body []byte) (*athenaQuery, *athenaError) {
	var in struct{ QueryExecutionId string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, athenaInvalid("%v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.queries[in.QueryExecutionId]
	if q == nil {
		return nil, athenaInvalid("QueryExecution %s was not found", in.QueryExecutionId)
	}
	return q, nil
}

func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return float64(t.UnixMilli()) / 1000
}

func (a *athenaServer) get(body []byte) (any, *athenaError) {
	q, err := a.query(body)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	status := map[string]any{"State": q.state, "SubmissionDateTime": epoch(q.submitted)}
	if !q.completed.IsZero() {
		status["CompletionDateTime"] = epoch(q.completed)
	}
	if q.reason != "" {
		status["StateChangeReason"] = q.reason
		if q.state == "FAILED" {
			status["AthenaError"] = map[string]any{"ErrorCategory": 2, "ErrorType": 1100, "Retryable": false, "ErrorMessage": q.reason}
		}
	}
	exec := map[string]any{
		"QueryExecutionId": q.id, "Query": q.sql, "StatementType": "DML", "WorkGroup": q.workgroup, "Status": status,
		"QueryExecutionContext": map[string]string{"Database": q.database, "Catalog": "AwsDataCatalog"},
		"Statistics":            map[string]any{"DataScannedInBytes": q.scanned, "EngineExecutionTimeInMillis": q.completed.Sub(q.submitted).Milliseconds()},
	}
	if q.output != "" {
		exec["ResultConfiguration"] = map[string]string{"OutputLocation": strings.TrimSuffix(q.output, "/") + "/" + q.id + ".csv"}
	}
	return map[string]any{"QueryExecution": exec}, nil
}

func (a *athenaServer) stopQuery(body []byte) (any, *athenaError) {
	q, err := a.query(body)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if q.state == "QUEUED" || q.state == "RUNNING" {
		select {
		case <-q.stop:
		default:
			close(q.stop)
		}
	}
	return map[string]any{}, nil
}

// athenaPage is the most rows GetQueryResults returns at once.
const athenaPage = 1000

func (a *athenaServer) results(body []byte) (any, *athenaError) {
	q, err := a.query(body)
	if err != nil {
		return nil, err
	}
	var in struct {
		NextToken  string
		MaxResults int
	}
	_ = json.Unmarshal(body, &in)
	if in.MaxResults == 0 {
		in.MaxResults = athenaPage
	}
	if in.MaxResults < 1 || in.MaxResults > athenaPage {
		return nil, athenaInvalid("MaxResults must be between 1 and %d, not %d.", athenaPage, in.MaxResults)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if q.state != "SUCCEEDED" {
		return nil, athenaInvalid("Query has not yet finished. Current state: %s", q.state)
	}
	// The header row comes first, and counts as one of the page's rows.
	all := len(q.rows) + 1
	from := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 1 || n > all {
			return nil, athenaInvalid("NextToken %q is not valid.", in.NextToken)
		}
		from = n
	}
	to := min(from+in.MaxResults, all)
	rows := []any{}
	for i := from; i < to; i++ {
		var data []any
		if i == 0 {
			for _, c := range q.columns {
				data = append(data, map[string]string{"VarCharValue": c})
			}
		} else {
			for _, v := range q.rows[i-1] {
				if v == nil {
					data = append(data, map[string]any{})
				} else {
					data = append(data, map[string]string{"VarCharValue": *v})
				}
			}
		}
		rows = append(rows, map[string]any{"Data": data})
	}
	info := []any{}
	for _, c := range q.columns {
		info = append(info, map[string]any{"Name": c, "Label": c, "Type": "varchar", "Nullable": "UNKNOWN", "CatalogName": "hive"})
	}
	out := map[string]any{"ResultSet": map[string]any{"Rows": rows, "ResultSetMetadata": map[string]any{"ColumnInfo": info}}, "UpdateCount": 0}
	if to < all {
		out["NextToken"] = strconv.Itoa(to)
	}
	return out, nil
}

// execute runs a query in the background, as Athena does, unless a fault
// holds it or fails it.
func (a *athenaServer) execute(q *athenaQuery) {
	a.set(q, "RUNNING", "")
	for {
		a.mu.Lock()
		f, changed := a.fault, a.changed
		a.mu.Unlock()
		if f.Fail != "" {
			a.set(q, "FAILED", f.Fail)
			return
		}
		if !f.Hang {
			break
		}
		select {
		case <-changed:
		case <-q.stop:
			a.set(q, "CANCELLED", "Query cancelled by user")
			return
		case <-a.sb.ctx.Done():
			return
		}
	}
	cols, rows, scanned, err := a.runSQL(q)
	a.mu.Lock()
	q.scanned = scanned
	a.mu.Unlock()
	if err != nil {
		a.set(q, "FAILED", err.Error())
		return
	}
	if q.output != "" {
		a.writeOutput(q, cols, rows)
	}
	a.mu.Lock()
	q.columns, q.rows = cols, rows
	a.mu.Unlock()
	a.set(q, "SUCCEEDED", "")
}

func (a *athenaServer) set(q *athenaQuery, state, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	q.state, q.reason = state, reason
	if state != "RUNNING" {
		q.completed = a.sb.now()
	}
}

// runSQL creates a view per table, each partition's files copied out of
// the store, and runs the query on DuckDB.
func (a *athenaServer) runSQL(q *athenaQuery) ([]string, [][]*string, int64, error) {
	a.run.Lock()
	defer a.run.Unlock()
	if err := a.open(); err != nil {
		return nil, nil, 0, err
	}
	ctx := a.sb.ctx
	conn, err := a.db.Conn(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	defer conn.Close()
	a.mu.Lock()
	tables := make([]athenaTable, 0, len(a.tables))
	for _, t := range a.tables {
		tables = append(tables, t)
	}
	a.mu.Unlock()
	sort.Slice(tables, func(i, j int) bool {
		return tables[i].database+"."+tables[i].name < tables[j].database+"."+tables[j].name
	})
	var scanned int64
	for _, t := range tables {
		n, err := a.view(ctx, conn, t, q.sql)
		if err != nil {
			return nil, nil, 0, err
		}
		scanned += n
	}
	if q.database != "" {
		if _, err := conn.ExecContext(ctx, "SET schema = "+sqlLiteral(q.database)); err != nil {
			return nil, nil, scanned, fmt.Errorf("SCHEMA_NOT_FOUND: line 1:1: Schema '%s' does not exist", q.database)
		}
	}
	rows, err := conn.QueryContext(ctx, q.sql)
	if err != nil {
		return nil, nil, scanned, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, scanned, err
	}
	var out [][]*string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, scanned, err
		}
		row := make([]*string, len(cols))
		for i, v := range vals {
			if v.Valid {
				s := v.String
				row[i] = &s
			}
		}
		out = append(out, row)
	}
	return cols, out, scanned, rows.Err()
}

func (a *athenaServer) open() error {
	if a.db != nil {
		return nil
	}
	db, err := a.sb.opts.Athena()
	if err != nil {
		return fmt.Errorf("open the sandbox's Athena database: %w", err)
	}
	dir, err := os.MkdirTemp("", "sandbox-athena-*")
	if err != nil {
		db.Close()
		return err
	}
	a.db, a.dir = db, dir
	return nil
}

// close releases the database and the files copied for it.
func (a *athenaServer) close() {
	a.run.Lock()
	defer a.run.Unlock()
	if a.db != nil {
		a.db.Close()
		os.RemoveAll(a.dir)
		a.db = nil
	}
}

// view creates a table's view over every partition its symlinks name now,
// and returns the bytes of the partitions the query names (all of them,
// when it names none) if it names the table.
func (a *athenaServer) view(ctx context.Context, conn *sql.Conn, t athenaTable, query string) (int64, error) {
	links := a.sb.store.latestUnder(t.bucket, t.hive)
	var parts []string
	var scanned int64
	named := strings.Contains(query, t.name)
	keys := make([]string, 0, len(links))
	for k := range links {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := inventory.Manifest{SourceBucket: t.name, FileFormat: t.format, FileSchema: t.schema}
	for _, k := range keys {
		dt, ok := strings.CutPrefix(path.Base(path.Dir(k)), "dt=")
		if !ok || path.Base(k) != "symlink.txt" {
			continue
		}
		var paths []string
		var size int64
		for line := range strings.SplitSeq(strings.TrimSpace(string(links[k])), "\n") {
			bucket, key, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "s3://"), "/")
			v, err := a.sb.store.lookup(bucket, key, "")
			if err != nil {
				return 0, fmt.Errorf("HIVE_CANNOT_OPEN_SPLIT: %s: %v", line, err)
			}
			sum := sha256.Sum256([]byte(bucket + "/" + key + "#" + v.id))
			p := filepath.Join(a.dir, hex.EncodeToString(sum[:12])+path.Ext(key))
			if strings.HasSuffix(key, ".csv.gz") {
				p = strings.TrimSuffix(p, ".gz") + ".csv.gz"
			}
			if _, err := os.Stat(p); err != nil {
				if err := os.WriteFile(p, v.body, 0o600); err != nil {
					return 0, err
				}
			}
			paths = append(paths, p)
			size += int64(len(v.body))
		}
		if len(paths) == 0 {
			continue
		}
		scan, err := inventory.DuckDBScan(m, paths)
		if err != nil {
			return 0, fmt.Errorf("HIVE_BAD_DATA: table %s: %v", t.name, err)
		}
		parts = append(parts, "SELECT *, "+sqlLiteral(dt)+" AS dt FROM "+scan)
		if named && (strings.Contains(query, sqlLiteral(dt)) || !strings.Contains(query, `"dt"`) && !strings.Contains(query, " dt ")) {
			scanned += size
		}
	}
	schema := `"` + strings.ReplaceAll(t.database, `"`, `""`) + `"`
	if _, err := conn.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return 0, err
	}
	body := strings.Join(parts, " UNION ALL ")
	if len(parts) == 0 {
		body = "SELECT NULL AS dt WHERE false"
	}
	name := schema + `."` + strings.ReplaceAll(t.name, `"`, `""`) + `"`
	if _, err := conn.ExecContext(ctx, "CREATE OR REPLACE VIEW "+name+" AS "+body); err != nil {
		return 0, fmt.Errorf("HIVE_BAD_DATA: table %s: %v", t.name, err)
	}
	return scanned, nil
}

// writeOutput writes a query's results where Athena would: a CSV with a
// header, at <OutputLocation>/<id>.csv.
func (a *athenaServer) writeOutput(q *athenaQuery, cols []string, rows [][]*string) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(cols)
	rec := make([]string, len(cols))
	for _, r := range rows {
		for i, v := range r {
			rec[i] = ""
			if v != nil {
				rec[i] = *v
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(q.output, "s3://"), "/")
	key := strings.TrimSuffix(prefix, "/") + "/" + q.id + ".csv"
	key = strings.TrimPrefix(key, "/")
	if err := a.sb.putObject(bucket, key, "text/csv", buf.Bytes()); err != nil {
		a.sb.log.Warn("athena: the query's results could not be written", "output", q.output, "error", err)
	}
}

func sqlLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// latestUnder returns the bodies of the latest versions under a prefix.
func (s *store) latestUnder(bucketName, prefix string) map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	b := s.buckets[bucketName]
	if b == nil {
		return out
	}
	for _, key := range b.sortedKeys() {
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		if v := b.latest(key); v != nil && !v.deleteMarker {
			out[key] = v.body
		}
	}
	return out
}
