package inventory_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/parquet-go/parquet-go"

	"github.com/replaudit/replaudit/internal/inventory"
)

// The figures in the commit that added these benchmarks were measured on
// one core, as a Lambda worker of 1769 MB or less has:
//
//	go test -run '^$' -bench 'CSVGzip|Parquet' -cpu 1 -count 5 ./internal/inventory/
//	go test -run '^$' -bench TenMillionRows -benchtime 1x -cpu 1 ./internal/inventory/

// benchRows is how many rows one benchmark op reads: one data file.
const benchRows = 100_000

// requiredRecord keeps a record's columns of Required, in their order.
func requiredRecord(row inventory.Row) []string {
	r := record(row)
	return []string{r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[10]}
}

// onlyRequired is a manifest of an inventory configured with only the
// columns a reconciler needs.
func onlyRequired(m inventory.Manifest) inventory.Manifest {
	m.FileSchema = strings.Join(inventory.Required, ", ")
	return m
}

// benchFiles are data files of benchRows generated rows: CSV.gz with every
// column AWS documents ("csv/all") or only Required ("csv/required"), and
// Parquet with every column.
var benchFiles = sync.OnceValue(func() map[string][]byte {
	row := generated(benchRows)
	all, required := make([][]string, benchRows), make([][]string, benchRows)
	records := make([]s3Parquet, benchRows)
	for i := range benchRows {
		all[i], required[i] = record(row(i)), requiredRecord(row(i))
		records[i] = parquetRecord(row(i))
	}
	files := map[string][]byte{}
	for name, recs := range map[string][][]string{"all": all, "required": required} {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf) // S3 does not document its level: the default
		csvText(zw, recs...)
		if err := zw.Close(); err != nil {
			panic(err)
		}
		files["csv/"+name] = buf.Bytes()
	}
	var buf bytes.Buffer
	writeParquet(&buf, benchRows, func(i int) s3Parquet { return records[i] })
	files["parquet"] = buf.Bytes()
	return files
})

// writeParquet writes n records as S3 might: Snappy, parquet-go's default
// pages, row groups of half a million rows.
func writeParquet(w io.Writer, n int, record func(i int) s3Parquet) {
	pw := parquet.NewGenericWriter[s3Parquet](w,
		parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(500_000))
	batch := make([]s3Parquet, 0, 10_000)
	for i := range n {
		batch = append(batch, record(i))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := pw.Write(batch); err != nil {
				panic(err)
			}
			batch = batch[:0]
		}
	}
	if err := pw.Close(); err != nil {
		panic(err)
	}
}

// measure runs op, which reads rowsPerOp rows, b.N times and reports rows/s,
// ns/row and allocs/row.
func measure(b *testing.B, rowsPerOp int, op func(b *testing.B)) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		op(b)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	rows := float64(rowsPerOp) * float64(b.N)
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/rows, "ns/row")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/rows, "allocs/row")
}

// readRows reads rd to io.EOF, fails on anything else, and returns how many
// rows it read.
func readRows(b *testing.B, rd *inventory.Reader) int {
	n := 0
	for {
		_, err := rd.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkCSVGzip reads a CSV.gz data file of realistic rows (60-character
// keys), gzip and the MD5 included: with every column AWS documents, an
// object ACL among them, and with only the columns a reconciler needs.
func BenchmarkCSVGzip(b *testing.B) {
	m := csvManifest(b)
	for _, tt := range []struct {
		name string
		m    inventory.Manifest
	}{
		{"all", m},
		{"required", onlyRequired(m)},
	} {
		b.Run("columns="+tt.name, func(b *testing.B) {
			data := benchFiles()["csv/"+tt.name]
			f := fileOf("data/bench.csv.gz", data)
			b.SetBytes(int64(len(data)))
			measure(b, benchRows, func(b *testing.B) {
				rd, err := inventory.NewReader(bytes.NewReader(data), tt.m, f)
				if err != nil {
					b.Fatal(err)
				}
				if n := readRows(b, rd); n != benchRows {
					b.Fatalf("read %d rows, want %d", n, benchRows)
				}
			})
		})
	}
}

// BenchmarkGunzip inflates the CSV.gz file of BenchmarkCSVGzip with every
// column, to compare the decoder the reader uses, klauspost/compress's, with
// compress/gzip's.
func BenchmarkGunzip(b *testing.B) {
	data := benchFiles()["csv/all"]
	for _, tt := range []struct {
		name string
		open func(io.Reader) (io.Reader, error)
	}{
		{"compress/gzip", func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
		{"klauspost", func(r io.Reader) (io.Reader, error) { return kgzip.NewReader(r) }},
	} {
		b.Run("decoder="+tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			measure(b, benchRows, func(b *testing.B) {
				zr, err := tt.open(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, zr); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkParquet reads a Parquet data file of the same rows, the MD5 pass
// included: through NewParquetReader from an io.ReaderAt in memory (a file
// in the page cache reads the same), and through NewReader from a stream,
// which it spools to a temporary file.
func BenchmarkParquet(b *testing.B) {
	m := parquetManifest(b)
	data := benchFiles()["parquet"]
	f := fileOf("data/bench.parquet", data)
	for _, tt := range []struct {
		name string
		open func() (*inventory.Reader, error)
	}{
		{"ReaderAt", func() (*inventory.Reader, error) { return inventory.NewParquetReader(bytes.NewReader(data), m, f) }},
		{"stream", func() (*inventory.Reader, error) { return inventory.NewReader(bytes.NewReader(data), m, f) }},
	} {
		b.Run("from="+tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			measure(b, benchRows, func(b *testing.B) {
				rd, err := tt.open()
				if err != nil {
					b.Fatal(err)
				}
				if n := readRows(b, rd); n != benchRows {
					b.Fatalf("read %d rows, want %d", n, benchRows)
				}
				if err := rd.Close(); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkTenMillionRows reads a data file of 10 million distinct rows with
// every column, generated to a temporary file before the timer (generating
// it through a pipe would take two passes, one to learn its MD5): CSV.gz
// through NewReader from the file, and Parquet through NewReader from the
// file as a stream, as a worker reads S3's GetObject body, spooled to
// TMPDIR. It reports the peaks, sampled every 10ms while the file is read,
// of the heap in use and of the memory the runtime holds from the system
// (Sys less HeapReleased, near the process's resident size). Generating the
// files takes a few minutes.
func BenchmarkTenMillionRows(b *testing.B) {
	if testing.Short() {
		b.Skip("generates and reads 10 million rows")
	}
	const n = 10_000_000
	row := generated(n)
	for _, tt := range []struct {
		name     string
		m        inventory.Manifest
		generate func(w io.Writer)
	}{
		{"csv.gz", csvManifest(b), func(w io.Writer) {
			zw := gzip.NewWriter(w)
			for i := range n {
				csvText(zw, record(row(i)))
			}
			if err := zw.Close(); err != nil {
				panic(err)
			}
		}},
		{"parquet", parquetManifest(b), func(w io.Writer) {
			writeParquet(w, n, func(i int) s3Parquet { return parquetRecord(row(i)) })
		}},
	} {
		b.Run("format="+tt.name, func(b *testing.B) {
			dir := b.TempDir()
			b.Setenv("TMPDIR", dir)
			start := time.Now()
			name := filepath.Join(dir, "ten-million."+tt.name)
			f := generateFile(b, name, tt.generate)
			b.Logf("generated %d rows, %d MB, in %v", n, f.Size>>20, time.Since(start).Round(time.Second))
			for b.Loop() {
				in, err := os.Open(name)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				debug.FreeOSMemory() // what generating the file left
				peak := sampleMemory()
				start := time.Now()
				rd, err := inventory.NewReader(in, tt.m, f)
				if err != nil {
					b.Fatal(err)
				}
				rows := readRows(b, rd)
				if err := errors.Join(rd.Close(), in.Close()); err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(start)
				heap, held := peak()
				if rows != n {
					b.Fatalf("read %d rows, want %d", rows, n)
				}
				b.ReportMetric(float64(heap)/(1<<20), "peak-heap-inuse-MB")
				b.ReportMetric(float64(held)/(1<<20), "peak-held-MB")
				b.ReportMetric(float64(n)/elapsed.Seconds(), "rows/s")
				b.ReportMetric(float64(f.Size)/(1<<20), "file-MB")
				if heap > 256<<20 {
					b.Errorf("peak heap in use %d MB, want under 256 MB", heap>>20)
				}
			}
		})
	}
}

// generateFile writes a data file with generate and returns how a manifest
// lists it.
func generateFile(b *testing.B, name string, generate func(io.Writer)) inventory.File {
	b.Helper()
	out, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	sum := md5.New()
	bw := bufio.NewWriterSize(io.MultiWriter(out, sum), 1<<20)
	generate(bw)
	if err := errors.Join(bw.Flush(), out.Close()); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(name)
	if err != nil {
		b.Fatal(err)
	}
	return inventory.File{Key: "data/" + filepath.Base(name), Size: info.Size(), MD5checksum: hex.EncodeToString(sum.Sum(nil))}
}

// sampleMemory samples HeapInuse, and Sys less HeapReleased, every 10ms
// until the returned function is called, which returns their peaks.
func sampleMemory() func() (heapInuse, held uint64) {
	var mu sync.Mutex
	var heap, held uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		heap, held = max(heap, ms.HeapInuse), max(held, ms.Sys-ms.HeapReleased)
		mu.Unlock()
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sample()
			case <-stop:
				return
			}
		}
	}()
	return func() (uint64, uint64) {
		close(stop)
		<-done
		sample()
		mu.Lock()
		defer mu.Unlock()
		return heap, held
	}
}
