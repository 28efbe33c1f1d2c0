package reconcile

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/inventory"
	"github.com/replaudit/replaudit/internal/s3events"
)

// A remediation manifest is what S3 Batch Operations reads: CSV lines of
// bucket, URL-encoded key and version id. Each worker writes the lines of
// its file into a part as they come (bounded memory, and a file read twice
// writes the same part); the run's closer joins the parts.

// Manifests is where a run's remediation manifest is written: beside the
// inventory in S3 (S3Manifests), or in a local file (FileManifest).
type Manifests interface {
	// Part starts the part of one data file.
	Part(t Task) Part
	// Join writes the manifest from every part, and returns where it is
	// (an s3:// URI, or a path) and, in S3, its ETag.
	Join(ctx context.Context, t Task) (location, etag string, err error)
}

// Part is one data file's share of a manifest.
type Part interface {
	Write(r inventory.Row) error
	// Close finishes the part; Abort drops it.
	Close(ctx context.Context) error
	Abort()
}

// S3Manifests writes manifests beside their inventory, in its bucket.
type S3Manifests struct{ S3 S3 }

// Part streams a file's part to S3, from its first line.
func (m S3Manifests) Part(t Task) Part {
	return &part{s3: m.S3, bucket: t.Bucket, key: t.dir() + "parts/" + hex.EncodeToString(fileHash(t.File.Key)) + ".csv"}
}

// Join writes the run's manifest: every part, in key order, streamed into
// one object.
func (m S3Manifests) Join(ctx context.Context, t Task) (string, string, error) {
	key, etag, err := join(ctx, m.S3, t.Bucket, t.dir())
	return "s3://" + t.Bucket + "/" + key, etag, err
}

// part is one file's share of the remediation manifest in S3, written
// lazily.
type part struct {
	s3          S3
	bucket, key string
	pw          *io.PipeWriter
	w           *csv.Writer
	done        chan error
}

func (p *part) Write(r inventory.Row) error {
	if p.pw == nil {
		pr, pw := io.Pipe()
		p.pw, p.w, p.done = pw, csv.NewWriter(pw), make(chan error, 1)
		go func() {
			_, err := transfermanager.New(p.s3).UploadObject(context.Background(), &transfermanager.UploadObjectInput{
				Bucket: aws.String(p.bucket), Key: aws.String(p.key), Body: pr, ContentType: aws.String("text/csv")})
			pr.CloseWithError(err)
			p.done <- err
		}()
	}
	return p.w.Write(line(r))
}

// line is a version's manifest line.
func line(r inventory.Row) []string {
	return []string{r.Bucket, s3events.EncodeKey(r.Key), r.VersionID}
}

// Close finishes the part, if anything was written.
func (p *part) Close(ctx context.Context) error {
	if p.pw == nil {
		return nil
	}
	p.w.Flush()
	if err := p.w.Error(); err != nil {
		p.pw.CloseWithError(err)
		<-p.done
		return err
	}
	p.pw.Close()
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("write s3://%s/%s: %w", p.bucket, p.key, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *part) Abort() {
	if p.pw != nil {
		p.pw.CloseWithError(fmt.Errorf("the file's reading stopped"))
		<-p.done
	}
}

// join writes a run's remediation manifest: every part, in key order,
// streamed into one object. It returns the object's ETag, which a Batch
// Operations job names.
func join(ctx context.Context, c S3, bucket, dir string) (key, etag string, err error) {
	key = dir + "redrive-manifest.csv"
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(copyParts(ctx, c, bucket, dir+"parts/", pw))
	}()
	out, err := transfermanager.New(c).UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: pr,
		ContentType: aws.String("text/csv")})
	pr.CloseWithError(err)
	if err != nil {
		return "", "", fmt.Errorf("write s3://%s/%s: %w", bucket, key, err)
	}
	etag = strings.Trim(aws.ToString(out.ETag), `"`)
	if etag == "" {
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return "", "", fmt.Errorf("read the manifest's ETag: %w", err)
		}
		etag = strings.Trim(aws.ToString(h.ETag), `"`)
	}
	return key, etag, nil
}

func copyParts(ctx context.Context, c S3, bucket, prefix string, w io.Writer) error {
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list the manifest's parts: %w", err)
		}
		for _, obj := range page.Contents {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: obj.Key})
			if err != nil {
				return fmt.Errorf("read part %s: %w", aws.ToString(obj.Key), err)
			}
			_, err = io.Copy(w, out.Body)
			out.Body.Close()
			if err != nil {
				return fmt.Errorf("read part %s: %w", aws.ToString(obj.Key), err)
			}
		}
	}
	return nil
}

// NoManifest counts what a manifest would hold and writes nothing: a
// dry run from the command line.
type NoManifest struct{}

// Part discards the file's lines.
func (NoManifest) Part(Task) Part { return noPart{} }

// Join writes nothing, and says so with an empty location.
func (NoManifest) Join(context.Context, Task) (string, string, error) { return "", "", nil }

type noPart struct{}

func (noPart) Write(inventory.Row) error   { return nil }
func (noPart) Close(context.Context) error { return nil }
func (noPart) Abort()                      {}

// FileManifest writes a run's manifest into a local file, for the command
// line: each part in a temporary file beside it, joined at the end.
type FileManifest struct {
	Path string
	mu   sync.Mutex
	// parts are the temporary files, by data file.
	parts map[string]string
}

// Part writes a file's part into a temporary file beside Path.
func (m *FileManifest) Part(t Task) Part {
	return &filePart{m: m, file: t.File.Key}
}

type filePart struct {
	m    *FileManifest
	file string
	f    *os.File
	w    *csv.Writer
}

func (p *filePart) Write(r inventory.Row) error {
	if p.f == nil {
		f, err := os.CreateTemp(filepath.Dir(p.m.Path), ".replaudit-part-*.csv")
		if err != nil {
			return err
		}
		p.f, p.w = f, csv.NewWriter(f)
	}
	return p.w.Write(line(r))
}

func (p *filePart) Close(context.Context) error {
	if p.f == nil {
		return nil
	}
	p.w.Flush()
	if err := errors.Join(p.w.Error(), p.f.Close()); err != nil {
		os.Remove(p.f.Name())
		return err
	}
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	if p.m.parts == nil {
		p.m.parts = map[string]string{}
	}
	if old, ok := p.m.parts[p.file]; ok {
		os.Remove(old)
	}
	p.m.parts[p.file] = p.f.Name()
	return nil
}

func (p *filePart) Abort() {
	if p.f != nil {
		p.f.Close()
		os.Remove(p.f.Name())
	}
}

// Join writes Path from the parts, in file order, and removes them.
func (m *FileManifest) Join(context.Context, Task) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out, err := os.Create(m.Path)
	if err != nil {
		return "", "", err
	}
	for _, file := range slices.Sorted(maps.Keys(m.parts)) {
		in, err := os.Open(m.parts[file])
		if err != nil {
			out.Close()
			return "", "", err
		}
		_, err = io.Copy(out, in)
		in.Close()
		os.Remove(m.parts[file])
		if err != nil {
			out.Close()
			return "", "", err
		}
	}
	m.parts = nil
	return m.Path, "", out.Close()
}
