package setup

import (
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/replaudit/replaudit/internal/bucketregion"
)

// NewClients returns one S3 client per region, built on first use from cfg.
func NewClients(cfg aws.Config) Clients {
	get := bucketregion.Clients(cfg)
	return func(region string) S3 { return get(region) }
}
