package sandbox

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"

	"github.com/replaudit/replaudit/internal/replication"
)

// inventoryConfig is an InventoryConfiguration document as S3 accepts and
// returns it. The sandbox stores it per bucket and writes inventories from
// it when asked (WriteInventory), not on a schedule.
type inventoryConfig struct {
	XMLName     xml.Name `xml:"InventoryConfiguration"`
	Xmlns       string   `xml:"xmlns,attr,omitempty"`
	Destination struct {
		S3BucketDestination struct {
			AccountID  string `xml:"AccountId,omitempty"`
			Bucket     string `xml:"Bucket"`
			Format     string `xml:"Format"`
			Prefix     string `xml:"Prefix,omitempty"`
			Encryption *struct {
				SSES3  *struct{} `xml:"SSE-S3,omitempty"`
				SSEKMS *struct {
					KeyID string `xml:"KeyId"`
				} `xml:"SSE-KMS,omitempty"`
			} `xml:"Encryption,omitempty"`
		} `xml:"S3BucketDestination"`
	} `xml:"Destination"`
	IsEnabled bool `xml:"IsEnabled"`
	Filter    *struct {
		Prefix string `xml:"Prefix"`
	} `xml:"Filter,omitempty"`
	ID                     string `xml:"Id"`
	IncludedObjectVersions string `xml:"IncludedObjectVersions"`
	OptionalFields         *struct {
		Fields []string `xml:"Field"`
	} `xml:"OptionalFields,omitempty"`
	Schedule struct {
		Frequency string `xml:"Frequency"`
	} `xml:"Schedule"`
}

// maxInventoryConfigs is how many inventory configurations S3 keeps per
// bucket; inventoryPage is how many ListBucketInventoryConfigurations
// returns at once.
const (
	maxInventoryConfigs = 1000
	inventoryPage       = 100
)

var errNoInventory = newS3Error(http.StatusNotFound, "NoSuchConfiguration", "The specified configuration does not exist.")

func (c *inventoryConfig) prefix() string {
	if c.Filter == nil {
		return ""
	}
	return c.Filter.Prefix
}

func (c *inventoryConfig) fields() []string {
	if c.OptionalFields == nil {
		return nil
	}
	return c.OptionalFields.Fields
}

// parseInventory reads and checks an InventoryConfiguration document, as
// S3's PutBucketInventoryConfiguration does at a basic level.
func parseInventory(body io.Reader, id string) (*inventoryConfig, error) {
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	var c inventoryConfig
	if err := xml.Unmarshal(raw, &c); err != nil {
		return nil, malformedXML(err)
	}
	c.Xmlns = ""
	if id == "" {
		return nil, badRequest("InvalidArgument", "Missing required parameter: id")
	}
	if c.ID != id {
		return nil, badRequest("InvalidArgument", "The Id %q in the configuration does not match the id %q of the request.", c.ID, id)
	}
	d := c.Destination.S3BucketDestination
	if _, err := replication.BucketFromARN(d.Bucket); err != nil {
		return nil, badRequest("InvalidArgument", "Invalid destination bucket %q: it must be a bucket ARN such as arn:aws:s3:::name.", d.Bucket)
	}
	if !slices.Contains([]string{"CSV", "ORC", "Parquet"}, d.Format) {
		return nil, malformedXML(errors.New("Format must be CSV, ORC or Parquet, not " + d.Format))
	}
	if !slices.Contains([]string{"Daily", "Weekly"}, c.Schedule.Frequency) {
		return nil, malformedXML(errors.New("Schedule Frequency must be Daily or Weekly, not " + c.Schedule.Frequency))
	}
	if !slices.Contains([]string{"All", "Current"}, c.IncludedObjectVersions) {
		return nil, malformedXML(errors.New("IncludedObjectVersions must be All or Current, not " + c.IncludedObjectVersions))
	}
	for _, f := range c.fields() {
		if inventoryFields[f] == nil {
			return nil, malformedXML(errors.New("unknown OptionalFields Field " + f))
		}
	}
	return &c, nil
}

// bucketInventory serves PUT, GET and DELETE /bucket?inventory&id=ID, and
// GET /bucket?inventory (the list).
func (f *s3Front) bucketInventory(w http.ResponseWriter, r *http.Request, bucket string, q url.Values) error {
	st := f.sb.store
	id := q.Get("id")
	switch r.Method {
	case http.MethodPut:
		c, err := parseInventory(r.Body, id)
		if err != nil {
			return err
		}
		return st.putInventory(bucket, c)
	case http.MethodGet:
		if _, ok := q["id"]; !ok {
			return f.listInventory(w, bucket, q.Get("continuation-token"))
		}
		c, ok := st.inventory(bucket, id)
		if !ok {
			return errNoInventory
		}
		out := *c
		out.Xmlns = s3Xmlns
		return writeXML(w, &out)
	case http.MethodDelete:
		if !st.deleteInventory(bucket, id) {
			return errNoInventory
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return newS3Error(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
}

// listInventory pages through a bucket's configurations by id. The
// continuation token is the base64 of the last id of the previous page.
func (f *s3Front) listInventory(w http.ResponseWriter, bucket, token string) error {
	after := ""
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return badRequest("InvalidArgument", "The continuation token provided is incorrect")
		}
		after = string(raw)
	}
	all := f.sb.store.inventories(bucket)
	out := struct {
		XMLName               xml.Name           `xml:"ListInventoryConfigurationsResult"`
		Xmlns                 string             `xml:"xmlns,attr"`
		Configs               []*inventoryConfig `xml:"InventoryConfiguration"`
		IsTruncated           bool               `xml:"IsTruncated"`
		ContinuationToken     string             `xml:"ContinuationToken,omitempty"`
		NextContinuationToken string             `xml:"NextContinuationToken,omitempty"`
	}{Xmlns: s3Xmlns, ContinuationToken: token}
	for _, c := range all {
		if c.ID <= after && token != "" {
			continue
		}
		if len(out.Configs) == inventoryPage {
			out.IsTruncated = true
			out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(out.Configs[len(out.Configs)-1].ID))
			break
		}
		out.Configs = append(out.Configs, c)
	}
	return writeXML(w, out)
}

func (s *store) putInventory(bucketName string, c *inventoryConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(bucketName)
	if err != nil {
		return err
	}
	if b.inventory == nil {
		b.inventory = map[string]*inventoryConfig{}
	}
	if _, exists := b.inventory[c.ID]; !exists && len(b.inventory) >= maxInventoryConfigs {
		return badRequest("TooManyConfigurations", "You are attempting to create a new configuration but have already reached the %d-configuration limit.", maxInventoryConfigs)
	}
	b.inventory[c.ID] = c
	return nil
}

func (s *store) inventory(bucketName, id string) (*inventoryConfig, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil || b.inventory[id] == nil {
		return nil, false
	}
	return b.inventory[id], true
}

func (s *store) deleteInventory(bucketName, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil || b.inventory[id] == nil {
		return false
	}
	delete(b.inventory, id)
	return true
}

// inventories returns a bucket's configurations ordered by id. They are
// replaced whole, never changed in place, so the caller may keep them.
func (s *store) inventories(bucketName string) []*inventoryConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil
	}
	out := make([]*inventoryConfig, 0, len(b.inventory))
	for _, c := range b.inventory {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
