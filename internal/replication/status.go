package replication

// Status values of the x-amz-replication-status header. They are compared as
// raw strings: some SDK enums spell success COMPLETE while S3 sends COMPLETED.
const (
	StatusPending   = "PENDING"
	StatusCompleted = "COMPLETED"
	StatusFailed    = "FAILED"
	StatusReplica   = "REPLICA"
)

// IsCompleted reports whether s is S3's success status in either spelling.
func IsCompleted(s string) bool {
	return s == StatusCompleted || s == "COMPLETE"
}
