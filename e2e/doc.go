// Package e2e runs replaudit as template.yaml deploys it, on the sandbox:
// what is deployed is what is tested.
//
// Provision evaluates the template with package stack and walks its
// resources in dependency order, standing each up on the sandbox with the
// settings the template gives it: queues with their delay, visibility
// timeout and dead-letter queue, the ledger table with its keys, indexes
// and TTL, the alert topic, every function's real bootstrap (built by the
// Makefile's build-<LogicalId> target, as sam build does) under the Lambda
// Runtime Interface Emulator with exactly its resolved environment, the
// event source mappings between them, and the Custom::S3Replication
// resource, through CloudFormation's own request to the emulated setup
// function and its answer on a local stand-in for the presigned
// ResponseURL. What the sandbox cannot stand for (IAM, KMS, logs, alarms,
// dashboards, resource policies) gets invented ids and is listed as
// skipped, so that a new kind of resource is noticed rather than ignored.
// A property the provisioner does not know is an error, for the same
// reason; those it knows the sandbox cannot represent are listed.
//
// Stack.Update and Stack.Delete send CloudFormation's Update and Delete:
// a resource whose resolved properties changed is updated (a custom
// resource with its OldResourceProperties); then, as CloudFormation's
// cleanup does, a resource the update drops (an entry gone from a
// Fn::ForEach collection, a Condition turned false) is deleted, each
// before what it refers to; Update reports what it did to each resource,
// in order. A deleted stack, or resource, keeps what its DeletionPolicy
// retains.
package e2e
