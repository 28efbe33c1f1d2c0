// Package sandbox runs replaudit's whole job without an AWS account: S3 with
// regions, versions, tagging, replication, event notifications and
// inventories; S3 Batch Replication jobs through S3 Control; SQS queues fed
// through the SQS API and by notifications, delivering to functions through
// an event source mapping; SNS; DynamoDB through dynalite; and enough of
// IAM and STS to check permissions before using them. The real AWS SDK
// talks to it over HTTP on loopback, so product code runs unchanged.
//
// IAM and STS answer three calls, in their query protocol: STS's
// GetCallerIdentity (CallerIdentity, a session of CallerRole, unless
// SetCallerIdentity names another), IAM's GetRole, and IAM's
// SimulatePrincipalPolicy over the roles a test declares with PutRole and
// their inline policies. The simulator evaluates Allow and Deny statements
// whose actions and resources may hold the wildcards * and ?, with
// StringEquals conditions on the request's ContextEntries: an explicit
// Deny wins, then an Allow, else the action is implicitly denied. No other
// request is checked against any policy. A forbid fault on the service iam
// makes every IAM call answer AccessDenied, as to a function that may not
// simulate.
//
// gofakes3 speaks the S3 object protocol on top of the sandbox's own store.
// The sandbox adds what no emulator offers: bucket regions, the replication
// engine with its statuses and events, inventory configurations and
// inventories written on demand (WriteInventory), S3ReplicateObject jobs
// that replicate a manifest's versions and write a completion report, a
// stand-in for Batch Replication of what failed (Redrive), fault
// injection, and call counting. Faults act on a bucket's replication or
// API, on a whole service's API (it refuses, forbids, hangs, or loses an
// answer after the write landed), or on the calling process (it crashes
// between two calls), so that code can be shown to stay right when AWS or its own
// Lambda fails halfway. A control API (and the same Go methods) injects
// faults and reads what happened.
//
// S3 Control's SDK calls <account>.<endpoint host>, a name no resolver knows
// for 127.0.0.1. AWSConfig's HTTP client dials the sandbox for such names;
// Env sets HTTP_PROXY to the sandbox, which serves those requests as a
// proxy, so that processes started with it reach S3 Control too.
package sandbox
