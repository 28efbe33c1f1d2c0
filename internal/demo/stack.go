package demo

import (
	"fmt"
	"strconv"
	"time"

	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/sandbox"
)

// DeclareStack declares on sb a stack named name with the outputs
// template.yaml gives a deployed replaudit stack, so the CLI's --stack
// finds p's ledger table and alert topic. setup is the Custom::S3Replication
// resource's Data, for the replication outputs; nil when there is none.
func DeclareStack(sb *sandbox.Sandbox, name string, p *plane.Plane, setup map[string]any) {
	outputs := map[string]string{
		"LedgerTableName":         p.Options.Table,
		"AlertTopicArn":           p.Topic,
		"EventDeadLetterQueueUrl": sb.QueueURL(sandbox.QueueARN(p.Options.Region, p.Options.Queue+"-dlq")),
	}
	for output, attribute := range map[string]string{
		"SourceBucketArn": "SourceBucketArn", "DestinationBucketArns": "DestinationBucketArns", "ReplicationRuleIds": "RuleIds",
	} {
		if v, ok := setup[attribute]; ok {
			outputs[output] = fmt.Sprint(v)
		}
	}
	if setup != nil {
		outputs["ReplicationRoleArn"] = demoRole
	}
	if m := int(p.Options.Config.PendingThreshold / time.Minute); m > 0 {
		outputs["PendingThresholdMinutes"] = strconv.Itoa(m)
	}
	sb.PutStack(name, outputs)
}
