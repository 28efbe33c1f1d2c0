// Package setup is the Custom::S3Replication resource: it turns on S3
// replication for buckets that already exist, as code, without clobbering
// what is there, and removes exactly what it added on delete.
//
// It enables versioning on both buckets, merges its rules into the source's
// replication configuration by rule ID, optionally wires the source's events
// to the auditor's queue and the source's S3 Inventory (every version, daily
// or weekly) to the reconciler's bucket, and creates a missing destination
// when asked. Every rule, notification entry and inventory configuration it
// writes carries an ID derived from the stack and logical id, which is how
// it tells its own from everyone else's.
//
// Guard makes any custom resource function safe to hand to cfn.LambdaWrap:
// CloudFormation always gets exactly one answer, in time and within size.
package setup
