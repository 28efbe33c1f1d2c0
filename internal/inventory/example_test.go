package inventory_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/replaudit/replaudit/internal/inventory"
)

// A worker reads one report: the manifest checked against its checksum,
// then each data file to its end. Rows that cannot be read are counted and
// skipped; the rows of a file count only once Next has returned io.EOF,
// which vouches for the file's size and MD5.
func Example() {
	dir := "testdata/inventory/amzn-s3-demo-source-bucket/replaudit-all-versions/2026-11-29T01-00Z"
	manifest, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		log.Fatal(err)
	}
	checksum, err := os.ReadFile(filepath.Join(dir, "manifest.checksum"))
	if err != nil {
		log.Fatal(err)
	}
	m, err := inventory.ParseManifest(manifest, checksum)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.SourceBucket, m.FileFormat, m.Created().Format("2006-01-02T15:04Z"))

	for _, f := range m.Files {
		body, err := os.Open(filepath.Join("testdata", f.Key)) // S3 GetObject's Body in a worker
		if err != nil {
			log.Fatal(err)
		}
		rd, err := inventory.NewReader(body, m, f)
		if err != nil {
			log.Fatal(err)
		}
		var rows, skipped int
		for {
			row, err := rd.Next()
			var rowErr *inventory.RowError
			if errors.As(err, &rowErr) {
				skipped++
				continue
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				log.Fatal(err) // ErrChecksum, ErrSize, ErrCorrupt: fetch the file again
			}
			if rows++; row.ReplicationStatus == "FAILED" {
				fmt.Printf("FAILED: %q version %s\n", row.Key, row.VersionID)
			}
		}
		rd.Close()
		body.Close()
		fmt.Printf("%d rows, %d skipped\n", rows, skipped)
	}
	// Output:
	// amzn-s3-demo-source-bucket CSV 2026-11-29T01:00Z
	// FAILED: "math/1+1=2.txt" version n0QHUzjVBzeJa3zqNJn3yBc1pGaF8W3b
	// 8 rows, 0 skipped
}
