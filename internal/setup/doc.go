// Package setup is the Custom::S3Replication resource: it turns on S3
// replication for buckets that already exist, as code, without clobbering
// what is there, and removes exactly what it added on delete.
//
// It enables versioning on both buckets, merges its rules into the source's
// replication configuration by rule ID, optionally wires the source's events
// to the auditor's queue and the source's S3 Inventory (every version, daily
// or weekly) to the reconciler's bucket, and creates a missing destination
// when asked. With Inventory.DestinationBucket (a bucket in the one
// destination's region) it gives the destination an inventory like the
// source's, under its own id (DestinationInventoryID), for the
// verification on Athena; an Update without it, and a Delete, remove it. Every rule, notification entry and inventory configuration it
// writes carries an ID derived from the stack and logical id, which is how
// it tells its own from everyone else's.
//
// # Which buckets it may change
//
// Anyone allowed to invoke the function can send it a request, with any
// StackId, so the request alone decides nothing. A Scope (the function's
// SOURCE_BUCKETS and STACK_ID) does:
//   - A Create or Update configures only a SourceBucket in Sources. Any
//     other gets a FAILED answer, before any call to S3. With no Sources
//     (SOURCE_BUCKETS unset or empty) every Create and Update is refused, in
//     a sentence naming the variable: a deployed function fails closed.
//   - With StackID set, requests from any other stack are refused, and
//     Deletes from it change nothing.
//   - A Delete of a source in Sources removes what its resource wrote, as
//     always. A Delete of a source no longer in Sources is what CloudFormation
//     sends after an update moved the stack to another source (the function's
//     environment is updated first), and after a rollback of such a move. It
//     removes what its resource wrote only when StackID is set and the
//     request comes from that stack: the IDs it removes derive from the
//     stack id, so it can strip only this stack's own rules and entries,
//     which that bucket should no longer have anyway. Without StackID it
//     cannot tell that Delete from a forged one, so it strips nothing and
//     logs a warning. Either way it answers SUCCESS: a failing Delete can
//     wedge a stack, and one that strips nothing has nothing to report.
//     Under the template's role, which may configure only the stack's
//     current sources, S3 refuses that cleanup (AccessDenied): the Delete
//     succeeds too, and its error log names the rule and entry ID prefixes
//     left on the former source.
//   - An Update naming a source no longer in Sources, from the StackID
//     stack, is a rollback to the old source: it succeeds if it would write
//     nothing (the old source still holds the stack's configuration), and is
//     refused otherwise.
//
// A Setup built without WithScope configures any bucket, with a warning on
// every request: for the sandbox and the demo only.
//
// The role, the notification queue and the destinations' KMS keys must be
// in the stack's account (from StackId) or in AllowedAccounts; a
// destination's key may also be in that destination's Account, as
// cross-account replication needs. This catches a mistake; it is no defence
// against an invoker, who writes the AllowedAccounts too. Scope is that.
//
// # No write before every check
//
// Every problem that can be known without writing (properties, scope,
// accounts, regions of the queue, the inventory bucket and the KMS keys,
// missing buckets, overlapping notifications, a foreign role or V1 rule on
// the source, what an adopted role lacks, the response's size) is found
// first and reported together, one sentence each. Only then does it write,
// the notification configuration first: S3 checks the queue (it exists,
// lets S3 send) only when that configuration is written, and nothing else
// should be written when it refuses. Versioning, which cannot be turned
// off again, and the rules, which need it, come last.
//
// # A role the source already uses
//
// A bucket has one replication role. A source whose rules of others
// replicate with another role than RoleArn is refused; one whose rules
// replicate with RoleArn itself has that role adopted, as the template's
// ExistingReplicationRoleArn asks. Since the stack did not make that role
// for these rules, it is checked before the first write, through IAM's
// policy simulator (WithRoleChecks): this function must be allowed to pass
// it to S3 (its caller identity from STS, an assumed role's ARN with its
// path from GetRole), and the role must be allowed to replicate to each
// destination and to read the source. What is denied is refused, one
// sentence naming the actions and resources. Where IAM will not simulate
// (AccessDenied, as under the template's policy without
// ExistingReplicationRoleArn, or IAM or STS unreachable), the role is
// adopted with a warning in the log and in the response's Notes. A role on
// a source without the rules of others is the stack's own, which the
// template grants: it is not simulated.
//
// Key prefixes (Prefix, Inventory.Prefix) are never trimmed: S3 matches them
// byte for byte, so a space at either end is refused rather than guessed at.
//
// Guard makes any custom resource function safe to hand to cfn.LambdaWrap:
// CloudFormation always gets exactly one answer, in time and within size.
package setup
