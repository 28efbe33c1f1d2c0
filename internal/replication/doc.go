// Package replication is replaudit's single model of S3 replication: rules and
// their filters, destinations named by ARN, priorities, and the replication
// statuses that HeadObject reports.
//
// The setup custom resource writes rules with it, the auditor decides which
// destinations a key must reach with it, and the local sandbox replicates with
// it, so all three agree on what a rule means.
package replication
