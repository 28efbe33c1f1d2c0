package replication

import "strings"

// reasons maps S3's replication failure reasons to what they mean and the
// fix, one line each, for alerts read at 3 a.m.
var reasons = map[string][2]string{
	"AssumeRoleNotPermitted":           {"S3 could not assume the replication role.", "Check the role's trust policy allows s3.amazonaws.com (and its aws:SourceArn condition names this bucket)."},
	"DstBucketNotFound":                {"The destination bucket does not exist.", "Create the destination bucket, or point the rule at one that exists."},
	"DstBucketUnversioned":             {"The destination bucket has versioning off.", "Enable versioning on the destination bucket."},
	"DstBucketObjectLockConfigMissing": {"The source uses Object Lock but the destination does not.", "Enable Object Lock on the destination bucket."},
	"DstPutObjectNotPermitted":         {"The replication role may not write objects into the destination.", "Grant s3:ReplicateObject on the destination's objects to the role, and check the destination's bucket policy."},
	"DstPutTaggingNotPermitted":        {"The replication role may not write tags in the destination.", "Grant s3:ReplicateTags on the destination's objects to the role."},
	"DstPutAclNotPermitted":            {"The replication role may not set ACLs in the destination.", "Grant s3:ObjectOwnerOverrideToBucketOwner or use AccessControlTranslation with the destination account."},
	"DstDelObjNotPermitted":            {"The replication role may not replicate deletes into the destination.", "Grant s3:ReplicateDelete on the destination's objects to the role."},
	"DstKmsKeyNotFound":                {"The KMS key for replicas does not exist or is not visible.", "Check ReplicaKmsKeyID names an existing key in the destination's region."},
	"DstKmsKeyInvalidState":            {"The KMS key for replicas is disabled or pending deletion.", "Enable the destination KMS key, or choose another."},
	"SrcKmsKeyInvalidState":            {"The source object's KMS key is disabled or pending deletion.", "Enable the source KMS key so S3 can decrypt the object."},
	"SrcGetObjectNotPermitted":         {"The replication role may not read the source object.", "Grant s3:GetObjectVersionForReplication on the source's objects, and kms:Decrypt for SSE-KMS objects."},
	"SrcHeadObjectNotPermitted":        {"The replication role may not read the source object's metadata.", "Grant s3:GetObjectVersionForReplication on the source's objects."},
	"SrcGetTaggingNotPermitted":        {"The replication role may not read the source object's tags.", "Grant s3:GetObjectVersionTagging on the source's objects."},
	"SrcGetAclNotPermitted":            {"The replication role may not read the source object's ACL.", "Grant s3:GetObjectVersionAcl on the source's objects."},
	"SrcObjectNotEligible":             {"The object is not eligible for replication (for example an archived or SSE-C object, or a replica).", "Nothing to fix if this is expected; otherwise check the object's storage class and encryption."},
	"SrcVersionNotFound":               {"The source version was deleted before S3 could replicate it.", "Nothing to fix unless versions are deleted on purpose right after upload."},
	"DstVersionNotFound":               {"The replica version could not be found in the destination.", "Check for lifecycle rules or deletes on the destination bucket."},
}

// Explain returns what a failure reason means and how to fix it. Unknown
// reasons, including S3's DstMultipart*NotPermitted family, still get a line.
func Explain(reason string) (meaning, fix string) {
	if r, ok := reasons[reason]; ok {
		return r[0], r[1]
	}
	if strings.HasPrefix(reason, "DstMultipart") && strings.HasSuffix(reason, "NotPermitted") {
		return "The replication role may not complete a multipart write in the destination.",
			"Grant s3:ReplicateObject on the destination's objects to the role, and check the destination's bucket policy."
	}
	if reason == "" {
		return "S3 reported the replication as failed without a reason.", "Check the replication role, the KMS keys and both bucket policies."
	}
	return "S3 reported " + reason + ".", "See the S3 replication troubleshooting guide for " + reason + "."
}
