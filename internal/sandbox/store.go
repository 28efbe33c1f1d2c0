package sandbox

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// Headers the front end passes to the store through gofakes3, which copies
// every X-Amz-* request header into the metadata map it hands the backend.
const (
	hdrEventName = "X-Amz-Sandbox-Event"
	hdrETag      = "X-Sandbox-Etag"
)

// version is one stored object version or delete marker.
type version struct {
	key          string
	id           string // "" in a bucket that was never versioned, "null" when suspended
	body         []byte
	hash         []byte
	meta         map[string]string
	tags         map[string]string
	lastModified time.Time
	deleteMarker bool
	// etag is the ETag when it is not the body's MD5: a multipart upload's.
	etag string
	// isReplica marks a version written by replication, delete markers too.
	isReplica bool

	// status is the x-amz-replication-status: PENDING, COMPLETED or FAILED on
	// a source, REPLICA on a replica, "" when no rule applied.
	status string
	// dests holds the status per destination bucket while replicating.
	dests map[string]string
}

func (v *version) replica() bool { return v.isReplica }

// eTag is the version's ETag, quoted.
func (v *version) eTag() string {
	if v.etag != "" {
		return v.etag
	}
	return gofakes3.FormatETag(v.hash)
}

type bucket struct {
	name       string
	region     string
	created    time.Time
	versioning gofakes3.VersioningStatus
	keys       map[string][]*version // oldest first

	replication  *replicationDoc
	notification *notificationDoc
	inventory    map[string]*inventoryConfig // by id
	docs         map[string][]byte
}

func (b *bucket) latest(key string) *version {
	vs := b.keys[key]
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

func (b *bucket) find(key, id string) *version {
	if id == "null" {
		id = ""
	}
	for _, v := range b.keys[key] {
		vid := v.id
		if vid == "null" {
			vid = ""
		}
		if vid == id {
			return v
		}
	}
	return nil
}

func (b *bucket) sortedKeys() []string {
	keys := make([]string, 0, len(b.keys))
	for k := range b.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writeKind says what a write did, for replication and notifications.
type write struct {
	bucket    string
	region    string
	eventName string // ObjectCreated:Put, ObjectRemoved:DeleteMarkerCreated...
	version   version
	sequencer string
}

// store is the sandbox's object storage. It implements gofakes3's Backend and
// VersionedBackend so that gofakes3 speaks the S3 wire protocol for objects,
// while versions, tags, metadata and replication state are kept here.
type store struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	seq     uint64
	now     func() time.Time
	// onWrite is called, without the lock held, after each object write.
	onWrite func(write)
	// multipartETags holds the ETag of uploads being completed, by bucket/key.
	multipartETags map[string]string
}

var (
	_ gofakes3.Backend          = (*store)(nil)
	_ gofakes3.VersionedBackend = (*store)(nil)
)

func newStore(now func() time.Time) *store {
	return &store{buckets: map[string]*bucket{}, now: now, onWrite: func(write) {}, multipartETags: map[string]string{}}
}

func newVersionID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// keptMeta says which request headers are object metadata. Everything else
// that gofakes3 collected (X-Amz-Date, X-Amz-Content-Sha256, SDK headers...)
// is request plumbing and must not be echoed back on GET.
func keptMeta(k string) bool {
	switch k {
	case "Content-Type", "Content-Disposition", "Content-Encoding", "Content-Language",
		"Cache-Control", "Expires", "X-Amz-Storage-Class", "X-Amz-Website-Redirect-Location",
		"X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id",
		"X-Amz-Server-Side-Encryption-Bucket-Key-Enabled",
		"X-Amz-Server-Side-Encryption-Customer-Algorithm":
		return true
	}
	return strings.HasPrefix(k, "X-Amz-Meta-") || strings.HasPrefix(k, "X-Amz-Checksum-") && k != "X-Amz-Checksum-Algorithm" && k != "X-Amz-Checksum-Type"
}

// cleanMeta splits gofakes3's metadata map into stored metadata, tags from
// x-amz-tagging and the sandbox's own event name.
func cleanMeta(in map[string]string) (meta, tags map[string]string, event string, err error) {
	meta = map[string]string{}
	for k, v := range in {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		switch {
		case ck == hdrEventName:
			event = v
		case ck == "X-Amz-Tagging":
			q, perr := url.ParseQuery(v)
			if perr != nil {
				return nil, nil, "", gofakes3.ErrorMessage(gofakes3.ErrInvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
			}
			tags = map[string]string{}
			for tk, tv := range q {
				tags[tk] = tv[0]
			}
		case ck == "Content-Encoding":
			// aws-chunked is a transfer detail, not the object's encoding.
			var kept []string
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" && e != "aws-chunked" {
					kept = append(kept, e)
				}
			}
			if len(kept) > 0 {
				meta[ck] = strings.Join(kept, ",")
			}
		case keptMeta(ck):
			meta[ck] = v
		}
	}
	return meta, tags, event, nil
}

func (s *store) bucket(name string) (*bucket, error) {
	b := s.buckets[name]
	if b == nil {
		return nil, gofakes3.BucketNotFound(name)
	}
	return b, nil
}

// createBucket makes a bucket in a region. It fails with BucketAlreadyOwnedByYou
// when the bucket exists, as S3 does outside us-east-1.
func (s *store) createBucket(name, region string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := gofakes3.ValidateBucketName(name); err != nil {
		return err
	}
	if _, ok := s.buckets[name]; ok {
		return errBucketOwned
	}
	s.buckets[name] = &bucket{name: name, region: region, created: s.now(), keys: map[string][]*version{}}
	return nil
}

func (s *store) bucketRegion(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[name]
	if b == nil {
		return "", false
	}
	return b.region, true
}

// ListBuckets implements gofakes3.Backend.
func (s *store) ListBuckets() ([]gofakes3.BucketInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]gofakes3.BucketInfo, 0, len(s.buckets))
	for _, b := range s.buckets {
		out = append(out, gofakes3.BucketInfo{Name: b.name, CreationDate: gofakes3.NewContentTime(b.created)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListBucket implements gofakes3.Backend: the latest version of each key that
// is not a delete marker.
func (s *store) ListBucket(name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	if prefix == nil {
		prefix = &gofakes3.Prefix{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(name)
	if err != nil {
		return nil, err
	}
	out := gofakes3.NewObjectList()
	var match gofakes3.PrefixMatch
	var count int64
	lastPrefix := ""
	keys := b.sortedKeys()
	for i, key := range keys {
		if page.HasMarker && key <= page.Marker {
			continue
		}
		// A marker that is a common prefix stands for every key under it.
		if page.HasMarker && prefix.HasDelimiter && strings.HasSuffix(page.Marker, prefix.Delimiter) && strings.HasPrefix(key, page.Marker) {
			continue
		}
		v := b.latest(key)
		if v == nil || v.deleteMarker || !prefix.Match(key, &match) {
			continue
		}
		if match.CommonPrefix {
			if match.MatchedPart == lastPrefix {
				continue
			}
			lastPrefix = match.MatchedPart
			out.AddPrefix(match.MatchedPart)
		} else {
			out.Add(&gofakes3.Content{
				Key:          key,
				LastModified: gofakes3.NewContentTime(v.lastModified),
				ETag:         v.eTag(),
				Size:         int64(len(v.body)),
				StorageClass: gofakes3.StorageClass(v.meta["X-Amz-Storage-Class"]),
			})
		}
		count++
		if page.MaxKeys > 0 && count >= page.MaxKeys {
			out.NextMarker = key
			if match.CommonPrefix {
				out.NextMarker = match.MatchedPart
			}
			out.IsTruncated = i < len(keys)-1
			break
		}
	}
	return out, nil
}

// CreateBucket implements gofakes3.Backend. The front end creates buckets
// itself to honour LocationConstraint; this path only serves gofakes3.
func (s *store) CreateBucket(name string) error { return s.createBucket(name, defaultRegion) }

// BucketExists implements gofakes3.Backend.
func (s *store) BucketExists(name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.buckets[name]
	return ok, nil
}

// DeleteBucket implements gofakes3.Backend.
func (s *store) DeleteBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(name)
	if err != nil {
		return err
	}
	if len(b.keys) > 0 {
		return gofakes3.ResourceError(gofakes3.ErrBucketNotEmpty, name)
	}
	delete(s.buckets, name)
	return nil
}

// ForceDeleteBucket implements gofakes3.Backend.
func (s *store) ForceDeleteBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucket(name); err != nil {
		return err
	}
	delete(s.buckets, name)
	return nil
}

// object turns a stored version into what gofakes3 writes out. The
// replication status, storage class and tag count are computed per version,
// which is where they live in S3.
func (v *version) object(rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	meta := make(map[string]string, len(v.meta)+4)
	for k, val := range v.meta {
		meta[k] = val
	}
	meta["Last-Modified"] = v.lastModified.UTC().Format(http.TimeFormat)
	if v.status != "" {
		meta["X-Amz-Replication-Status"] = v.status
	}
	if len(v.tags) > 0 {
		meta["X-Amz-Tagging-Count"] = strconv.Itoa(len(v.tags))
	}
	if v.etag != "" {
		meta[hdrETag] = v.etag // the front end puts it in place of gofakes3's MD5
	}
	size := int64(len(v.body))
	r, err := rng.Range(size)
	if err != nil {
		return nil, err
	}
	body := v.body
	if r != nil {
		body = body[r.Start : r.Start+r.Length]
	}
	return &gofakes3.Object{
		Name:           v.key,
		Metadata:       meta,
		Size:           size,
		Contents:       io.NopCloser(bytes.NewReader(body)),
		Hash:           v.hash,
		Range:          r,
		VersionID:      gofakes3.VersionID(v.id),
		IsDeleteMarker: v.deleteMarker,
	}, nil
}

// GetObject implements gofakes3.Backend.
func (s *store) GetObject(bucketName, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	return s.GetObjectVersion(bucketName, key, "", rng)
}

// HeadObject implements gofakes3.Backend.
func (s *store) HeadObject(bucketName, key string) (*gofakes3.Object, error) {
	return s.GetObjectVersion(bucketName, key, "", nil)
}

// GetObjectVersion implements gofakes3.VersionedBackend. An empty id means the
// latest version.
func (s *store) GetObjectVersion(bucketName, key string, id gofakes3.VersionID, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(bucketName)
	if err != nil {
		return nil, err
	}
	var v *version
	if id == "" {
		v = b.latest(key)
	} else {
		v = b.find(key, string(id))
		if v == nil {
			return nil, gofakes3.ErrorMessage(gofakes3.ErrNoSuchVersion, "The specified version does not exist.")
		}
	}
	if v == nil {
		return nil, gofakes3.KeyNotFound(key)
	}
	return v.object(rng)
}

// HeadObjectVersion implements gofakes3.VersionedBackend.
func (s *store) HeadObjectVersion(bucketName, key string, id gofakes3.VersionID) (*gofakes3.Object, error) {
	return s.GetObjectVersion(bucketName, key, id, nil)
}

// put stores a new version and returns what was written.
func (s *store) put(b *bucket, v *version) {
	switch b.versioning {
	case gofakes3.VersioningEnabled:
		if v.id == "" {
			v.id = newVersionID()
		}
		// A replica arrives with its source's id; a redelivery replaces it.
		if old := b.find(v.key, v.id); old != nil {
			*old = *v
			return
		}
	case gofakes3.VersioningSuspended:
		v.id = "null"
		s.dropNull(b, v.key)
	default:
		v.id = ""
		delete(b.keys, v.key)
	}
	b.keys[v.key] = append(b.keys[v.key], v)
}

func (s *store) dropNull(b *bucket, key string) {
	vs := b.keys[key]
	kept := vs[:0]
	for _, v := range vs {
		if v.id != "null" && v.id != "" {
			kept = append(kept, v)
		}
	}
	b.keys[key] = kept
}

func (s *store) nextSequencer() string {
	s.seq++
	return fmt.Sprintf("%018X", s.seq)
}

// PutObject implements gofakes3.Backend.
func (s *store) PutObject(bucketName, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	body, err := io.ReadAll(input)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	meta, tags, event, err := cleanMeta(meta)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	if event == "" {
		event = "ObjectCreated:Put"
	}
	sum := md5.Sum(body)
	s.mu.Lock()
	b, err := s.bucket(bucketName)
	if err != nil {
		s.mu.Unlock()
		return gofakes3.PutObjectResult{}, err
	}
	if cond != nil {
		info := &gofakes3.ConditionalObjectInfo{}
		if cur := b.latest(key); cur != nil && !cur.deleteMarker {
			info.Exists, info.Hash = true, cur.hash
		}
		if err := gofakes3.CheckPutConditions(cond, info); err != nil {
			s.mu.Unlock()
			return gofakes3.PutObjectResult{}, err
		}
	}
	v := &version{key: key, body: body, hash: sum[:], meta: meta, tags: tags, lastModified: s.now()}
	if event == "ObjectCreated:CompleteMultipartUpload" {
		v.etag = s.multipartETags[b.name+"/"+key]
		delete(s.multipartETags, b.name+"/"+key)
	}
	s.put(b, v)
	w := write{bucket: b.name, region: b.region, eventName: event, version: *v, sequencer: s.nextSequencer()}
	s.mu.Unlock()
	s.onWrite(w)
	return gofakes3.PutObjectResult{VersionID: gofakes3.VersionID(v.id)}, nil
}

// CopyObject implements gofakes3.Backend. The front end serves CopyObject
// itself, through copyObject; this path only completes the interface.
func (s *store) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	res, err := s.copyObject(copyRequest{srcBucket: srcBucket, srcKey: srcKey, dstBucket: dstBucket, dstKey: dstKey})
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	return gofakes3.CopyObjectResult{ETag: res.etag, LastModified: gofakes3.NewContentTime(res.lastModified)}, nil
}

// copyRequest is a CopyObject call. replaceMeta and replaceTags are nil
// when the directive is COPY.
type copyRequest struct {
	srcBucket, srcKey, srcVersion string
	dstBucket, dstKey             string
	replaceMeta, replaceTags      map[string]string
}

type copyResult struct {
	versionID, srcVersionID, etag string
	lastModified                  time.Time
}

// copyObject copies a version (the latest by default) to a new version.
func (s *store) copyObject(c copyRequest) (copyResult, error) {
	s.mu.Lock()
	src, err := s.bucket(c.srcBucket)
	if err != nil {
		s.mu.Unlock()
		return copyResult{}, err
	}
	dst, err := s.bucket(c.dstBucket)
	if err != nil {
		s.mu.Unlock()
		return copyResult{}, err
	}
	from, err := s.lookup(c.srcBucket, c.srcKey, c.srcVersion)
	if err != nil {
		s.mu.Unlock()
		return copyResult{}, err
	}
	meta, tags := from.meta, from.tags
	if c.replaceMeta != nil {
		meta = c.replaceMeta
	}
	if c.replaceTags != nil {
		tags = c.replaceTags
	}
	v := &version{key: c.dstKey, body: from.body, hash: from.hash, etag: from.etag, meta: meta, tags: tags, lastModified: s.now()}
	s.put(dst, v)
	res := copyResult{versionID: v.id, etag: v.eTag(), lastModified: v.lastModified}
	if src.versioning != gofakes3.VersioningNone {
		res.srcVersionID = from.id
		if res.srcVersionID == "" {
			res.srcVersionID = "null"
		}
	}
	w := write{bucket: dst.name, region: dst.region, eventName: "ObjectCreated:Copy", version: *v, sequencer: s.nextSequencer()}
	s.mu.Unlock()
	s.onWrite(w)
	return res, nil
}

// DeleteObject implements gofakes3.Backend: a delete marker in a versioned
// bucket, a removal otherwise.
func (s *store) DeleteObject(bucketName, key string) (gofakes3.ObjectDeleteResult, error) {
	s.mu.Lock()
	b, err := s.bucket(bucketName)
	if err != nil {
		s.mu.Unlock()
		return gofakes3.ObjectDeleteResult{}, err
	}
	res, w := s.deleteLatest(b, key)
	s.mu.Unlock()
	if w != nil {
		s.onWrite(*w)
	}
	return res, nil
}

func (s *store) deleteLatest(b *bucket, key string) (gofakes3.ObjectDeleteResult, *write) {
	if b.versioning == gofakes3.VersioningNone {
		cur := b.latest(key)
		if cur == nil {
			return gofakes3.ObjectDeleteResult{}, nil
		}
		delete(b.keys, key)
		return gofakes3.ObjectDeleteResult{}, &write{bucket: b.name, region: b.region, eventName: "ObjectRemoved:Delete", version: *cur, sequencer: s.nextSequencer()}
	}
	v := &version{key: key, deleteMarker: true, lastModified: s.now()}
	s.put(b, v)
	return gofakes3.ObjectDeleteResult{IsDeleteMarker: true, VersionID: gofakes3.VersionID(v.id)},
		&write{bucket: b.name, region: b.region, eventName: "ObjectRemoved:DeleteMarkerCreated", version: *v, sequencer: s.nextSequencer()}
}

// DeleteObjectVersion implements gofakes3.VersionedBackend. Deleting a
// specific version is permanent and is never replicated.
func (s *store) DeleteObjectVersion(bucketName, key string, id gofakes3.VersionID) (gofakes3.ObjectDeleteResult, error) {
	s.mu.Lock()
	b, err := s.bucket(bucketName)
	if err != nil {
		s.mu.Unlock()
		return gofakes3.ObjectDeleteResult{}, err
	}
	res, w := s.deleteVersion(b, key, string(id))
	s.mu.Unlock()
	if w != nil {
		s.onWrite(*w)
	}
	return res, nil
}

func (s *store) deleteVersion(b *bucket, key, id string) (gofakes3.ObjectDeleteResult, *write) {
	v := b.find(key, id)
	if v == nil {
		// S3 answers 204 for a version that is not there.
		return gofakes3.ObjectDeleteResult{VersionID: gofakes3.VersionID(id)}, nil
	}
	vs := b.keys[key]
	kept := make([]*version, 0, len(vs))
	for _, x := range vs {
		if x != v {
			kept = append(kept, x)
		}
	}
	if len(kept) == 0 {
		delete(b.keys, key)
	} else {
		b.keys[key] = kept
	}
	return gofakes3.ObjectDeleteResult{IsDeleteMarker: v.deleteMarker, VersionID: gofakes3.VersionID(v.id)},
		&write{bucket: b.name, region: b.region, eventName: "ObjectRemoved:Delete", version: *v, sequencer: s.nextSequencer()}
}

// DeleteMulti implements gofakes3.Backend.
func (s *store) DeleteMulti(bucketName string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var out gofakes3.MultiDeleteResult
	for _, k := range keys {
		res, err := s.DeleteObject(bucketName, k)
		if err != nil {
			out.Error = append(out.Error, gofakes3.ErrorResultFromError(err))
			continue
		}
		out.Deleted = append(out.Deleted, gofakes3.ObjectID{Key: k, VersionID: string(res.VersionID)})
	}
	return out, nil
}

// VersioningConfiguration implements gofakes3.VersionedBackend.
func (s *store) VersioningConfiguration(bucketName string) (gofakes3.VersioningConfiguration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(bucketName)
	if err != nil {
		return gofakes3.VersioningConfiguration{}, err
	}
	return gofakes3.VersioningConfiguration{Status: b.versioning}, nil
}

// SetVersioningConfiguration implements gofakes3.VersionedBackend. As in S3,
// a bucket that had versioning can only be suspended, never unversioned, and
// versioning cannot be suspended while a replication configuration exists.
// The front end checks that last rule first, to answer with S3's error code.
func (s *store) SetVersioningConfiguration(bucketName string, v gofakes3.VersioningConfiguration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(bucketName)
	if err != nil {
		return err
	}
	switch v.Status {
	case gofakes3.VersioningEnabled:
	case gofakes3.VersioningSuspended:
		if b.replication != nil {
			return errSuspendReplicated
		}
	default:
		return gofakes3.ErrorMessage(gofakes3.ErrIllegalVersioningConfiguration, "The Versioning element must be specified as Enabled or Suspended.")
	}
	b.versioning = v.Status
	return nil
}

// ListBucketVersions implements gofakes3.VersionedBackend: keys in order,
// each key's versions newest first, paged by key and version id markers.
func (s *store) ListBucketVersions(bucketName string, prefix *gofakes3.Prefix, page *gofakes3.ListBucketVersionsPage) (*gofakes3.ListBucketVersionsResult, error) {
	if prefix == nil {
		prefix = &gofakes3.Prefix{}
	}
	if page == nil {
		page = &gofakes3.ListBucketVersionsPage{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	result := gofakes3.NewListBucketVersionsResult(bucketName, prefix, page)
	b, err := s.bucket(bucketName)
	if err != nil {
		return result, err
	}
	maxKeys := page.MaxKeys
	if maxKeys <= 0 {
		maxKeys = gofakes3.DefaultMaxBucketVersionKeys
	}
	var match gofakes3.PrefixMatch
	var count int64
	skipping := page.HasKeyMarker && page.KeyMarker != ""
	for _, key := range b.sortedKeys() {
		if skipping && key < page.KeyMarker {
			continue
		}
		if !prefix.Match(key, &match) {
			continue
		}
		if match.CommonPrefix {
			result.AddPrefix(match.MatchedPart)
			continue
		}
		vs := b.keys[key]
		for i := len(vs) - 1; i >= 0; i-- {
			v := vs[i]
			if skipping {
				if key == page.KeyMarker && page.HasVersionIDMarker && page.VersionIDMarker != "" {
					if gofakes3.VersionID(v.id) == page.VersionIDMarker {
						skipping = false
					}
					continue
				}
				if key == page.KeyMarker {
					continue // a key marker alone starts after that key
				}
				skipping = false
			}
			if count >= maxKeys {
				result.IsTruncated = true
				return result, nil
			}
			id := v.id
			if id == "" {
				id = "null"
			}
			latest := i == len(vs)-1
			if v.deleteMarker {
				result.Versions = append(result.Versions, &gofakes3.DeleteMarker{
					Key: key, VersionID: gofakes3.VersionID(id), IsLatest: latest,
					LastModified: gofakes3.NewContentTime(v.lastModified),
				})
			} else {
				result.Versions = append(result.Versions, &gofakes3.Version{
					Key: key, VersionID: gofakes3.VersionID(id), IsLatest: latest,
					LastModified: gofakes3.NewContentTime(v.lastModified),
					Size:         int64(len(v.body)), ETag: v.eTag(),
					StorageClass: gofakes3.StorageClass(v.meta["X-Amz-Storage-Class"]),
				})
			}
			result.NextKeyMarker, result.NextVersionIDMarker = key, gofakes3.VersionID(id)
			count++
		}
	}
	result.NextKeyMarker, result.NextVersionIDMarker = "", ""
	return result, nil
}

// tags returns a version's tags.
func (s *store) tags(bucketName, key, id string) (map[string]string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.lookup(bucketName, key, id)
	if err != nil {
		return nil, "", err
	}
	return v.tags, v.id, nil
}

// setTags replaces a version's tags, leaving its body alone.
func (s *store) setTags(bucketName, key, id string, tags map[string]string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.lookup(bucketName, key, id)
	if err != nil {
		return "", err
	}
	v.tags = tags
	return v.id, nil
}

func (s *store) lookup(bucketName, key, id string) (*version, error) {
	b, err := s.bucket(bucketName)
	if err != nil {
		return nil, err
	}
	var v *version
	if id == "" {
		v = b.latest(key)
	} else if v = b.find(key, id); v == nil {
		return nil, gofakes3.ErrorMessage(gofakes3.ErrNoSuchVersion, "The specified version does not exist.")
	}
	if v == nil || v.deleteMarker && id == "" {
		return nil, gofakes3.KeyNotFound(key)
	}
	if v.deleteMarker {
		return nil, deleteMarkerError(v.id)
	}
	return v, nil
}

// deleteMarkerError is S3's answer to a request naming a delete marker's
// version id, which has no body, metadata or tags.
func deleteMarkerError(id string) *s3Error {
	e := newS3Error(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	e.Header = map[string]string{"X-Amz-Delete-Marker": "true", "X-Amz-Version-Id": id}
	return e
}

// isDeleteMarker reports whether a version id names a delete marker.
func (s *store) isDeleteMarker(bucketName, key, id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return "", false
	}
	v := b.find(key, id)
	if v == nil || !v.deleteMarker {
		return "", false
	}
	return v.id, true
}

// expectMultipartETag records the ETag of an upload about to complete.
func (s *store) expectMultipartETag(bucketName, key, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.multipartETags[bucketName+"/"+key] = etag
}

// withBucket runs fn on a bucket under the lock. It reports whether the
// bucket exists.
func (s *store) withBucket(name string, fn func(*bucket)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[name]
	if b == nil {
		return false
	}
	fn(b)
	return true
}

func (s *store) hasReplication(bucketName string) bool {
	return s.replicationDoc(bucketName) != nil
}

func (s *store) replicationDoc(bucketName string) (doc *replicationDoc) {
	s.withBucket(bucketName, func(b *bucket) { doc = b.replication })
	return doc
}

func (s *store) setReplication(bucketName string, doc *replicationDoc) {
	s.withBucket(bucketName, func(b *bucket) { b.replication = doc })
}

func (s *store) notificationDoc(bucketName string) (doc *notificationDoc) {
	s.withBucket(bucketName, func(b *bucket) { doc = b.notification })
	return doc
}

func (s *store) setNotification(bucketName string, doc *notificationDoc) {
	s.withBucket(bucketName, func(b *bucket) { b.notification = doc })
}

// doc returns a stored bucket document such as the policy.
func (s *store) doc(bucketName, name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil || b.docs[name] == nil {
		return nil, false
	}
	return b.docs[name], true
}

func (s *store) setDoc(bucketName, name string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return
	}
	if b.docs == nil {
		b.docs = map[string][]byte{}
	}
	if body == nil {
		delete(b.docs, name)
		return
	}
	b.docs[name] = body
}

// DeleteMultiVersions implements gofakes3.VersionedBackend: DeleteObjects
// naming version ids deletes those versions; the others get delete markers.
func (s *store) DeleteMultiVersions(bucketName string, objects ...gofakes3.ObjectID) (gofakes3.MultiDeleteResult, error) {
	var out gofakes3.MultiDeleteResult
	for _, o := range objects {
		var res gofakes3.ObjectDeleteResult
		var err error
		if o.VersionID == "" {
			res, err = s.DeleteObject(bucketName, o.Key)
		} else {
			res, err = s.DeleteObjectVersion(bucketName, o.Key, gofakes3.VersionID(o.VersionID))
		}
		if err != nil {
			out.Error = append(out.Error, gofakes3.ErrorResultFromError(err))
			continue
		}
		out.Deleted = append(out.Deleted, gofakes3.ObjectID{Key: o.Key, VersionID: string(res.VersionID)})
	}
	return out, nil
}
