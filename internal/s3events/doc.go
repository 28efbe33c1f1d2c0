// Package s3events holds what S3 event notifications mean: the event types
// and how a configured type covers a delivered one, key filters and the rule
// that makes two configurations overlap, and how keys are encoded in records.
//
// The sandbox enforces these rules, the setup custom resource predicts them
// to explain a refusal in plain words, and the auditor reads records with them.
package s3events
