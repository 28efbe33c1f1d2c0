// Package athena runs the verification's SQL on Amazon Athena, over the
// Glue tables of both inventories (tables over each inventory's hive
// symlinks, partitioned by dt, as AWS documents for S3 Inventory): it
// starts the query, waits for it with backoff up to a timeout, and pages
// through its results. A query that FAILED, was CANCELLED or outlived the
// timeout is an error, never an empty result.
//
// Athena bills the bytes it reads, compressed: one verification reads both
// inventories' data files of the day once.
package athena
