// Package demo tells replaudit's story on a local sandbox: two existing
// buckets, the Custom::S3Replication resource turning replication on, the
// audit plane (package plane, wired as the functions are) checking each
// upload, a denied write, an outage, S3 Inventory re-driving what failed,
// and the ledger auditors query. `replaudit demo` runs it; with Keep, the
// sandbox stays up afterwards with the stack declared, so the CLI's
// --stack finds its ledger from another shell.
package demo
