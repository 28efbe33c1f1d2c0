package duck_test

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/replaudit/replaudit/internal/inventory"
	"github.com/replaudit/replaudit/internal/verify"
	"github.com/replaudit/replaudit/internal/verify/duck"
)

var (
	benchRows   = flag.Int("verify.rows", 10_000_000, "rows per inventory in BenchmarkVerifyDuckDB10M")
	benchMemory = flag.String("verify.memory", "4GB", "DuckDB's memory_limit in BenchmarkVerifyDuckDB10M (the CLI's --memory default; \"\" for DuckDB's own, 80% of RAM)")
)

// One problem of each kind in every problemEvery rows.
const problemEvery = 100_000

const benchSchema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, ReplicationStatus, EncryptionStatus"

// local is DuckDB over inventories already on local disk: the engine
// without its download.
type local struct {
	*duck.Engine
	src, dst []string
}

func (l local) Tables(ctx context.Context, src, dst verify.Inventory) (verify.Tables, error) {
	if err := l.View(ctx, duck.SourceView, src.Manifest, l.src); err != nil {
		return verify.Tables{}, err
	}
	if err := l.View(ctx, duck.DestinationView, dst.Manifest, l.dst); err != nil {
		return verify.Tables{}, err
	}
	return verify.Tables{Source: `"` + duck.SourceView + `"`, Destination: `"` + duck.DestinationView + `"`}, nil
}

// BenchmarkVerifyDuckDB10M verifies a destination of -verify.rows versions
// (10 million by default) against its source, both CSV.gz inventories on
// local disk, generated once outside the timed part. It reports the peak
// resident memory of the process (DuckDB allocates outside Go's heap) and
// what Athena would bill to read the same files ($5 per TB, compressed).
//
//	go test -run '^$' -bench BenchmarkVerifyDuckDB10M -benchtime 1x ./internal/verify/duck/
func BenchmarkVerifyDuckDB10M(b *testing.B) {
	dir := b.TempDir()
	began := time.Now()
	src, srcPaths, srcBytes := generate(b, dir, "src", *benchRows, false)
	dst, dstPaths, dstBytes := generate(b, dir, "dst", *benchRows, true)
	b.Logf("generated 2 x %d rows in %s: %d + %d bytes of CSV.gz", *benchRows, time.Since(began).Round(time.Millisecond), srcBytes, dstBytes)
	var s verify.Summary
	b.ResetTimer()
	for b.Loop() {
		e, err := duck.New(duck.Options{Dir: dir, MemoryLimit: *benchMemory})
		if err != nil {
			b.Fatal(err)
		}
		v, err := verify.New(verify.Options{Engine: local{e, srcPaths, dstPaths}, Settle: time.Nanosecond, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		if s, err = v.Verify(context.Background(), src, dst); err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
	b.StopTimer()
	problems := int64(*benchRows / problemEvery)
	if s.Checked != int64(*benchRows) || s.Missing != problems || s.Diverged != problems || s.Orphans != problems {
		b.Errorf("got checked %d, missing %d, diverged %d, orphans %d; want %d, %d each", s.Checked, s.Missing, s.Diverged, s.Orphans, *benchRows, problems)
	}
	scanned := srcBytes + dstBytes
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(scanned)/(1<<20), "athena-scanned-MiB")
	b.ReportMetric(float64(scanned)/1e12*5, "athena-$")
}

// generate writes an inventory of n versions in files of a million rows,
// in parallel, and its manifest. The destination lacks one version in
// every problemEvery, holds another with a different size and ETag, and
// one of its own (an orphan).
func generate(b *testing.B, dir, bucket string, n int, destination bool) (verify.Inventory, []string, int64) {
	b.Helper()
	const perFile = 1_000_000
	files := (n + perFile - 1) / perFile
	paths := make([]string, files)
	m := inventory.Manifest{SourceBucket: bucket, FileFormat: "CSV", FileSchema: benchSchema, CreationTimestamp: strconv.FormatInt(time.Now().UnixMilli(), 10),
		Files: make([]inventory.File, files)}
	var wg sync.WaitGroup
	errs := make([]error, files)
	for i := range files {
		paths[i] = filepath.Join(dir, fmt.Sprintf("%s-%03d.csv.gz", bucket, i))
		wg.Go(func() {
			m.Files[i], errs[i] = writeFile(paths[i], bucket, i*perFile, min((i+1)*perFile, n), destination)
		})
	}
	wg.Wait()
	var total int64
	for i, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
		total += m.Files[i].Size
	}
	return verify.Inventory{Bucket: "inventory", Key: bucket + "/2026-11-29T01-00Z/manifest.json", Manifest: m, Partition: "2026-11-29-01-00"}, paths, total
}

func writeFile(path, bucket string, from, to int, destination bool) (inventory.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return inventory.File{}, err
	}
	defer f.Close()
	sum := md5.New()
	counted := &countWriter{w: io.MultiWriter(f, sum)}
	zw, _ := gzip.NewWriterLevel(counted, gzip.DefaultCompression)
	w := bufio.NewWriterSize(zw, 1<<20)
	modified := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	status, latest := "COMPLETED", "true"
	if destination {
		status = "REPLICA"
	}
	line := func(key, version string, size int64, etag string) {
		fmt.Fprintf(w, "\"%s\",\"%s\",\"%s\",\"%s\",\"false\",\"%d\",\"%s\",\"%s\",\"%s\",\"SSE-S3\"\n",
			bucket, key, version, latest, size, modified.Add(time.Duration(size)*time.Millisecond).Format("2006-01-02T15:04:05.000Z"), etag, status)
	}
	for i := from; i < to; i++ {
		key := fmt.Sprintf("data/2026/11/%02d/object-%09d.bin", i%28+1, i)
		version := fmt.Sprintf("v%031d", i)
		size := int64(i%65536 + 1)
		etag := fmt.Sprintf("%032x", uint64(i)*2654435761)
		switch {
		case destination && i%problemEvery == 1:
			continue // MISSING
		case destination && i%problemEvery == 2:
			size++ // DIVERGED
		case destination && i%problemEvery == 3:
			line(strings.Replace(key, "object", "orphan", 1), version, size, etag) // ORPHAN, then the replica
		}
		line(key, version, size, etag)
	}
	if err := w.Flush(); err != nil {
		return inventory.File{}, err
	}
	if err := zw.Close(); err != nil {
		return inventory.File{}, err
	}
	return inventory.File{Key: filepath.Base(path), Size: counted.n, MD5checksum: hex.EncodeToString(sum.Sum(nil))}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// peakRSS is the process's peak resident memory (VmHWM), in bytes.
func peakRSS() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
