package sandbox

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/johannesboyne/gofakes3"
)

const defaultRegion = "us-east-1"

// s3Front serves the S3 protocol. It handles what gofakes3 lacks or gets
// wrong (bucket regions, replication and notification configurations,
// tagging, versioned HEAD, sub-resources gofakes3 would misroute) and hands
// the rest to gofakes3 backed by the sandbox's store.
type s3Front struct {
	sb     *Sandbox
	fake   http.Handler
	nextID atomic.Uint64
}

// Sub-resources gofakes3 serves correctly, at the bucket and object level.
var (
	gofakes3BucketQuery = set("list-type", "prefix", "delimiter", "marker", "max-keys",
		"continuation-token", "start-after", "encoding-type", "fetch-owner", "versions",
		"key-marker", "version-id-marker", "versioning", "uploads", "delete", "x-id")
	gofakes3ObjectQuery = set("versionId", "uploadId", "partNumber", "uploads", "x-id",
		"response-content-type", "response-content-language", "response-expires",
		"response-cache-control", "response-content-disposition", "response-content-encoding")
	// Bucket configuration documents that the sandbox stores verbatim.
	storedDocs = map[string]string{
		"policy":            "NoSuchBucketPolicy",
		"publicAccessBlock": "NoSuchPublicAccessBlockConfiguration",
		"encryption":        "ServerSideEncryptionConfigurationNotFoundError",
		"ownershipControls": "OwnershipControlsNotFoundError",
		"lifecycle":         "NoSuchLifecycleConfiguration",
		"cors":              "NoSuchCORSConfiguration",
		"tagging":           "NoSuchTagSet",
	}
)

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func newS3Front(sb *Sandbox) *s3Front {
	f := &s3Front{sb: sb}
	f.fake = gofakes3.New(sb.store,
		gofakes3.WithTimeSource(gofakes3.DefaultTimeSource()),
		gofakes3.WithTimeSkewLimit(0),
	).Server()
	return f
}

func splitPath(p string) (bucket, key string) {
	p = strings.TrimPrefix(p, "/")
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

// credentialScope reads AKID/date/region/service/aws4_request from a SigV4
// Authorization header or a presigned URL's X-Amz-Credential; nil for
// unsigned requests.
func credentialScope(r *http.Request) []string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		if _, after, ok := strings.Cut(auth, "Credential="); ok {
			cred, _, _ = strings.Cut(after, ",")
		}
	}
	if parts := strings.Split(cred, "/"); len(parts) >= 4 {
		return parts
	}
	return nil
}

// signingRegion is the region a request was signed for, "" when unsigned.
func signingRegion(r *http.Request) string {
	if scope := credentialScope(r); scope != nil {
		return scope[2]
	}
	return ""
}

// s3Operation names the API operation a request calls, as the SDK does.
func s3Operation(r *http.Request) string {
	bucket, key := splitPath(r.URL.Path)
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	m := r.Method
	if bucket == "" {
		return "ListBuckets"
	}
	sub := func(name string) string {
		switch m {
		case http.MethodGet:
			return "Get" + name
		case http.MethodPut:
			return "Put" + name
		case http.MethodDelete:
			return "Delete" + name
		}
		return m + name
	}
	if key == "" {
		switch {
		case has("replication"):
			return sub("BucketReplication")
		case has("notification"):
			return sub("BucketNotificationConfiguration")
		case has("inventory") && m == http.MethodGet && !has("id"):
			return "ListBucketInventoryConfigurations"
		case has("inventory"):
			return sub("BucketInventoryConfiguration")
		case has("versioning"):
			return sub("BucketVersioning")
		case has("location"):
			return "GetBucketLocation"
		case has("versions"):
			return "ListObjectVersions"
		case has("uploads"):
			return "ListMultipartUploads"
		case has("delete"):
			return "DeleteObjects"
		}
		for q := range storedDocs {
			if has(q) {
				return sub("Bucket" + strings.ToUpper(q[:1]) + q[1:])
			}
		}
		switch m {
		case http.MethodPut:
			return "CreateBucket"
		case http.MethodDelete:
			return "DeleteBucket"
		case http.MethodHead:
			return "HeadBucket"
		}
		if q.Get("list-type") == "2" {
			return "ListObjectsV2"
		}
		return "ListObjects"
	}
	switch {
	case has("tagging"):
		return sub("ObjectTagging")
	case has("uploads"):
		return "CreateMultipartUpload"
	case has("uploadId") && m == http.MethodPost:
		return "CompleteMultipartUpload"
	case has("uploadId") && m == http.MethodPut:
		return "UploadPart"
	case has("uploadId") && m == http.MethodDelete:
		return "AbortMultipartUpload"
	case has("uploadId"):
		return "ListParts"
	}
	switch m {
	case http.MethodGet:
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodDelete:
		return "DeleteObject"
	case http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return "CopyObject"
		}
		return "PutObject"
	}
	return m + "Object"
}

func (f *s3Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := fmt.Sprintf("%016X", f.nextID.Add(1))
	w.Header().Set("x-amz-request-id", requestID)
	w.Header().Set("Server", "AmazonS3")
	defer func() {
		if p := recover(); p != nil {
			f.sb.log.Error("s3 handler panic", "panic", fmt.Sprint(p), "method", r.Method, "url", r.URL.String())
			writeS3Error(w, r, requestID, newS3Error(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."))
		}
	}()
	bucket, key := splitPath(r.URL.Path)
	op := s3Operation(r)
	region, _ := f.sb.store.bucketRegion(bucket)
	if err := f.sb.faults.apiFault(r.Context(), bucket, region); err != nil {
		writeS3Error(w, r, requestID, err)
		return
	}
	if err := f.serve(w, r, bucket, key, op); err != nil {
		writeS3Error(w, r, requestID, err)
	}
}

func (f *s3Front) serve(w http.ResponseWriter, r *http.Request, bucket, key, op string) error {
	st := f.sb.store
	q := r.URL.Query()
	if bucket != "" && op != "CreateBucket" && op != "GetBucketLocation" {
		region, ok := st.bucketRegion(bucket)
		if !ok {
			if op == "HeadBucket" {
				return newS3Error(http.StatusNotFound, "NotFound", "Not Found")
			}
			return newS3Error(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		}
		// S3 names the bucket's region on every HeadBucket answer, even a
		// refusal: it is how SDKs locate buckets.
		if op == "HeadBucket" {
			w.Header().Set("X-Amz-Bucket-Region", region)
		}
		// S3 refuses a request signed for another region than the bucket's.
		if sr := signingRegion(r); sr != "" && sr != region {
			return &s3Error{
				Status: http.StatusMovedPermanently, Code: "PermanentRedirect",
				Message: fmt.Sprintf("The bucket you are attempting to access is in %s and must be addressed using that region's endpoint, not %s.", region, sr),
				Header:  map[string]string{"X-Amz-Bucket-Region": region},
			}
		}
	}
	if bucket == "" && r.Method != http.MethodGet {
		return newS3Error(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
	if key == "" {
		return f.serveBucket(w, r, bucket, op, q)
	}
	for k := range q {
		if k != "tagging" && !gofakes3ObjectQuery[k] && !strings.HasPrefix(k, "X-Amz-") {
			return newS3Error(http.StatusNotImplemented, "NotImplemented", "The sandbox does not implement the object sub-resource ?%s.", k)
		}
	}
	switch op {
	case "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging":
		return f.objectTagging(w, r, bucket, key, q.Get("versionId"))
	case "CopyObject":
		return f.copyObject(w, r, bucket, key)
	case "PutObject", "CreateMultipartUpload":
		event := map[string]string{"PutObject": "ObjectCreated:Put", "CreateMultipartUpload": "ObjectCreated:CompleteMultipartUpload"}[op]
		r.Header.Set(hdrEventName, event)
	case "CompleteMultipartUpload":
		if err := f.expectMultipartETag(r, bucket, key); err != nil {
			return err
		}
	case "GetObject", "HeadObject":
		if id := q.Get("versionId"); id != "" {
			if markerID, ok := st.isDeleteMarker(bucket, key, id); ok {
				return deleteMarkerError(markerID)
			}
		}
		fix := &headerFixer{ResponseWriter: w, checksums: strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED")}
		defer fix.flush()
		if op == "HeadObject" && q.Get("versionId") != "" {
			// gofakes3's HEAD ignores versionId; its GET honours it.
			get := r.Clone(r.Context())
			get.Method = http.MethodGet
			f.fake.ServeHTTP(headOnly{fix}, get)
			return nil
		}
		f.fake.ServeHTTP(fix, r)
		return nil
	}
	f.fake.ServeHTTP(w, r)
	return nil
}

// headOnly drops the body of a GET served for a HEAD.
type headOnly struct{ http.ResponseWriter }

func (h headOnly) Write(p []byte) (int, error) { return len(p), nil }

// headerFixer corrects gofakes3's object headers before they go out: the
// stored ETag of a multipart upload replaces the body's MD5, and checksums
// are dropped unless the request asked for them, as S3 does.
type headerFixer struct {
	http.ResponseWriter
	checksums bool
	flushed   bool
}

// flush fixes the headers once: at the first WriteHeader or Write, or when
// the handler returns having written neither.
func (h *headerFixer) flush() {
	if h.flushed {
		return
	}
	h.flushed = true
	hdr := h.Header()
	if etag := hdr.Get(hdrETag); etag != "" {
		hdr.Set("ETag", etag)
	}
	hdr.Del(hdrETag)
	if !h.checksums {
		for k := range hdr {
			if strings.HasPrefix(k, "X-Amz-Checksum-") {
				hdr.Del(k)
			}
		}
	}
}

func (h *headerFixer) WriteHeader(code int) {
	h.flush()
	h.ResponseWriter.WriteHeader(code)
}

func (h *headerFixer) Write(p []byte) (int, error) {
	h.flush()
	return h.ResponseWriter.Write(p)
}

// expectMultipartETag computes a completed upload's ETag as S3 does, the
// MD5 of the parts' MD5s with the part count, for the store to keep.
func (f *s3Front) expectMultipartETag(r *http.Request, bucket, key string) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		Parts []struct {
			ETag string `xml:"ETag"`
		} `xml:"Part"`
	}
	if err := xml.Unmarshal(body, &in); err != nil {
		return malformedXML(err)
	}
	h := md5.New()
	for _, p := range in.Parts {
		raw, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil {
			return badRequest("InvalidPart", "One or more of the specified parts could not be found.")
		}
		h.Write(raw)
	}
	f.sb.store.expectMultipartETag(bucket, key, fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(h.Sum(nil)), len(in.Parts)))
	return nil
}

// copyObject serves CopyObject, which gofakes3 gets wrong: it ignores the
// source's versionId and always merges the source's metadata.
func (f *s3Front) copyObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	source, err := url.PathUnescape(strings.TrimPrefix(r.Header.Get("X-Amz-Copy-Source"), "/"))
	if err != nil {
		return badRequest("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	source, query, _ := strings.Cut(source, "?")
	srcBucket, srcKey, ok := strings.Cut(source, "/")
	if !ok || srcBucket == "" || srcKey == "" {
		return badRequest("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	qv, _ := url.ParseQuery(query)
	req := copyRequest{srcBucket: srcBucket, srcKey: srcKey, srcVersion: qv.Get("versionId"), dstBucket: bucket, dstKey: key}
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[k] = v[0]
	}
	meta, tags, _, err := cleanMeta(headers)
	if err != nil {
		return err
	}
	switch d := r.Header.Get("X-Amz-Metadata-Directive"); d {
	case "", "COPY":
	case "REPLACE":
		req.replaceMeta = meta
	default:
		return badRequest("InvalidArgument", "Unknown metadata directive %q.", d)
	}
	switch d := r.Header.Get("X-Amz-Tagging-Directive"); d {
	case "", "COPY":
	case "REPLACE":
		req.replaceTags = tags
		if req.replaceTags == nil {
			req.replaceTags = map[string]string{}
		}
	default:
		return badRequest("InvalidArgument", "Unknown tagging directive %q.", d)
	}
	if srcBucket == bucket && srcKey == key && req.replaceMeta == nil && req.srcVersion == "" {
		return badRequest("InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	res, err := f.sb.store.copyObject(req)
	if err != nil {
		return err
	}
	setVersionHeader(w, res.versionID)
	if res.srcVersionID != "" {
		w.Header().Set("x-amz-copy-source-version-id", res.srcVersionID)
	}
	return writeXML(w, struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{LastModified: res.lastModified.UTC().Format("2006-01-02T15:04:05.000Z"), ETag: res.etag})
}

func (f *s3Front) serveBucket(w http.ResponseWriter, r *http.Request, bucket, op string, q url.Values) error {
	st := f.sb.store
	switch op {
	case "CreateBucket":
		return f.createBucket(w, r, bucket)
	case "GetBucketLocation":
		region, ok := st.bucketRegion(bucket)
		if !ok {
			return newS3Error(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		}
		// S3 reports us-east-1 as an empty LocationConstraint.
		if region == defaultRegion {
			region = ""
		}
		return writeXML(w, struct {
			XMLName xml.Name `xml:"LocationConstraint"`
			Xmlns   string   `xml:"xmlns,attr"`
			Region  string   `xml:",chardata"`
		}{Xmlns: s3Xmlns, Region: region})
	case "GetBucketReplication", "PutBucketReplication", "DeleteBucketReplication":
		return f.bucketReplication(w, r, bucket)
	case "GetBucketNotificationConfiguration", "PutBucketNotificationConfiguration":
		return f.bucketNotification(w, r, bucket)
	case "GetBucketInventoryConfiguration", "PutBucketInventoryConfiguration", "DeleteBucketInventoryConfiguration",
		"ListBucketInventoryConfigurations":
		return f.bucketInventory(w, r, bucket, q)
	case "PutBucketVersioning":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		var v gofakes3.VersioningConfiguration
		if err := xml.Unmarshal(body, &v); err != nil {
			return malformedXML(err)
		}
		if v.Status == gofakes3.VersioningSuspended && f.sb.store.hasReplication(bucket) {
			return errSuspendReplicated
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	for name := range storedDocs {
		if _, ok := q[name]; ok {
			return f.storedDoc(w, r, bucket, name)
		}
	}
	for k := range q {
		if !gofakes3BucketQuery[k] && !strings.HasPrefix(k, "X-Amz-") {
			return newS3Error(http.StatusNotImplemented, "NotImplemented", "The sandbox does not implement the bucket sub-resource ?%s.", k)
		}
	}
	f.fake.ServeHTTP(w, r)
	return nil
}

func writeXML(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/xml")
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// createBucket honours LocationConstraint: a bucket lives in the region its
// body names, or us-east-1 when the body names none.
func (f *s3Front) createBucket(w http.ResponseWriter, r *http.Request, bucket string) error {
	var cfg struct {
		LocationConstraint string `xml:"LocationConstraint"`
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := xml.Unmarshal(body, &cfg); err != nil {
			return malformedXML(err)
		}
	}
	region := cfg.LocationConstraint
	if region == "" || region == "US" {
		region = defaultRegion
	}
	if region == defaultRegion && cfg.LocationConstraint != "" && cfg.LocationConstraint != "US" {
		return badRequest("InvalidLocationConstraint", "The specified location-constraint is not valid")
	}
	if sr := signingRegion(r); sr != "" && sr != region {
		if cfg.LocationConstraint == "" {
			return badRequest("IllegalLocationConstraintException", "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
		}
		return badRequest("IllegalLocationConstraintException", "The %s location constraint is incompatible for the region specific endpoint this request was sent to.", region)
	}
	if err := f.sb.store.createBucket(bucket, region); err != nil {
		return err
	}
	w.Header().Set("Location", "/"+bucket)
	return nil
}

func (f *s3Front) bucketReplication(w http.ResponseWriter, r *http.Request, bucket string) error {
	st := f.sb.store
	switch r.Method {
	case http.MethodGet:
		doc := st.replicationDoc(bucket)
		if doc == nil {
			return newS3Error(http.StatusNotFound, "ReplicationConfigurationNotFoundError", "The replication configuration was not found")
		}
		return writeXML(w, doc)
	case http.MethodDelete:
		st.setReplication(bucket, nil)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPut:
		doc, cfg, err := parseReplication(r.Body)
		if err != nil {
			return err
		}
		if v, _ := st.VersioningConfiguration(bucket); v.Status != gofakes3.VersioningEnabled {
			return badRequest("InvalidRequest", "Versioning must be 'Enabled' on the bucket to apply a replication configuration")
		}
		for _, rule := range cfg.Rules {
			dst := rule.Destination.Bucket()
			v, err := st.VersioningConfiguration(dst)
			if err != nil {
				return badRequest("InvalidRequest", "Destination bucket must exist: %s", dst)
			}
			if v.Status != gofakes3.VersioningEnabled {
				return badRequest("InvalidRequest", "Destination bucket must have versioning enabled: %s", dst)
			}
			if dst == bucket {
				return badRequest("InvalidRequest", "Destination bucket cannot be the same as the source bucket.")
			}
		}
		st.setReplication(bucket, doc)
		return nil
	}
	return newS3Error(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
}

func (f *s3Front) bucketNotification(w http.ResponseWriter, r *http.Request, bucket string) error {
	st := f.sb.store
	if r.Method == http.MethodGet {
		doc := st.notificationDoc(bucket)
		if doc == nil {
			doc = &notificationDoc{Xmlns: s3Xmlns}
		}
		return writeXML(w, doc)
	}
	region, _ := st.bucketRegion(bucket)
	doc, err := parseNotification(r.Body, region, f.sb.queues.exists)
	if err != nil {
		return err
	}
	st.setNotification(bucket, doc)
	f.sb.sendTestEvents(bucket, doc)
	return nil
}

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	TagSet  []tagXML `xml:"TagSet>Tag"`
}

func (f *s3Front) objectTagging(w http.ResponseWriter, r *http.Request, bucket, key, versionID string) error {
	st := f.sb.store
	switch r.Method {
	case http.MethodGet:
		tags, id, err := st.tags(bucket, key, versionID)
		if err != nil {
			return err
		}
		out := tagging{Xmlns: s3Xmlns, TagSet: []tagXML{}}
		for k, v := range tags {
			out.TagSet = append(out.TagSet, tagXML{Key: k, Value: v})
		}
		setVersionHeader(w, id)
		return writeXML(w, out)
	case http.MethodPut, http.MethodDelete:
		var tags map[string]string
		if r.Method == http.MethodPut {
			var in tagging
			if err := xml.NewDecoder(r.Body).Decode(&in); err != nil {
				return malformedXML(err)
			}
			if len(in.TagSet) > 10 {
				return badRequest("BadRequest", "Object tags cannot be greater than 10")
			}
			tags = map[string]string{}
			for _, t := range in.TagSet {
				if _, dup := tags[t.Key]; dup {
					return badRequest("InvalidTag", "Cannot provide multiple Tags with the same key")
				}
				tags[t.Key] = t.Value
			}
		}
		id, err := st.setTags(bucket, key, versionID, tags)
		if err != nil {
			return err
		}
		setVersionHeader(w, id)
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
		}
		return nil
	}
	return newS3Error(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
}

func setVersionHeader(w http.ResponseWriter, id string) {
	if id != "" {
		w.Header().Set("x-amz-version-id", id)
	}
}

// storedDoc serves bucket documents that the sandbox keeps but does not act
// on, such as the bucket policy and the public access block.
func (f *s3Front) storedDoc(w http.ResponseWriter, r *http.Request, bucket, name string) error {
	st := f.sb.store
	switch r.Method {
	case http.MethodGet:
		doc, ok := st.doc(bucket, name)
		if !ok {
			return newS3Error(http.StatusNotFound, storedDocs[name], "The %s configuration does not exist", name)
		}
		if name == "policy" {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "application/xml")
		}
		_, err := w.Write(doc)
		return err
	case http.MethodPut:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		if name == "policy" {
			if !json.Valid(body) {
				return badRequest("MalformedPolicy", "Policies must be valid JSON")
			}
		} else if err := xml.Unmarshal(body, new(struct{})); err != nil {
			return malformedXML(err)
		}
		st.setDoc(bucket, name, body)
		if name == "policy" {
			w.WriteHeader(http.StatusNoContent)
		}
		return nil
	case http.MethodDelete:
		st.setDoc(bucket, name, nil)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return newS3Error(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
}
