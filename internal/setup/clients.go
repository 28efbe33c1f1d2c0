package setup

import (
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// NewClients returns one S3 client per region, built on first use from cfg.
func NewClients(cfg aws.Config) Clients {
	var mu sync.Mutex
	byRegion := map[string]*s3.Client{}
	return func(region string) S3 {
		mu.Lock()
		defer mu.Unlock()
		c, ok := byRegion[region]
		if !ok {
			c = s3.NewFromConfig(cfg, func(o *s3.Options) { o.Region = region })
			byRegion[region] = c
		}
		return c
	}
}
