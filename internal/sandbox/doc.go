// Package sandbox runs replaudit's whole job without an AWS account: S3 with
// regions, versions, tagging, replication and event notifications; SQS-like
// queues feeding functions through an event source mapping; SNS; and
// DynamoDB through dynalite. The real AWS SDK talks to it over HTTP on
// loopback, so product code runs unchanged.
//
// gofakes3 speaks the S3 object protocol on top of the sandbox's own store.
// The sandbox adds what no emulator offers: bucket regions, the replication
// engine with its statuses and events, a stand-in for Batch Replication
// (Redrive), fault injection, and call counting. Faults act on a bucket's
// replication or API, on a whole service's API (it refuses, hangs, or loses
// an answer after the write landed), or on the calling process (it crashes
// between two calls), so that code can be shown to stay right when AWS or
// its own Lambda fails halfway. A control API (and the same Go methods)
// injects faults and reads what happened.
package sandbox
