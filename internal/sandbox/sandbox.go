package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Options configure a sandbox. The zero value is usable.
type Options struct {
	// DynamoDB starts dynalite as a child process. Without it the DynamoDB
	// endpoint answers 503.
	DynamoDB bool
	// ReplicationDelay is how long replication takes with no fault; default 200ms.
	ReplicationDelay time.Duration
	// ReplicationThreshold stands for Replication Time Control's 15 minutes.
	// Tests shorten it. Default 15 minutes.
	ReplicationThreshold time.Duration
	// InventoryRowsPerFile is the most rows WriteInventory puts in one data
	// file before it starts another; default 1000.
	InventoryRowsPerFile int
	// Logger receives the sandbox's own logs; default discards them.
	Logger *slog.Logger
	// Athena opens the DuckDB database the Athena API runs queries on
	// (duck.OpenDB); nil: Athena answers ServiceUnavailable. The sandbox
	// takes it as a function so that it links no cgo itself.
	Athena func() (*sql.DB, error)
}

// Sandbox is a local stand-in for S3, SNS, DynamoDB, the SQS-to-Lambda
// path, and IAM's policy simulator, on loopback. AWS services share one
// endpoint and are told apart by the service named in each request's SigV4
// credential scope.
type Sandbox struct {
	opts    Options
	log     *slog.Logger
	store   *store
	faults  *faults
	calls   *calls
	queues  *queues
	sqs     *sqsServer
	batch   *batchOps
	sns     *snsServer
	athena  *athenaServer
	stacks  *stacks
	iam     *identities
	dynamo  *dynalite
	aws     *http.Server
	control *http.Server
	awsURL  string
	ctlURL  string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// closing stops new background work once Close has begun.
	closing bool

	mu      sync.Mutex
	batches map[string][]Batch
}

// Start runs a sandbox until Close.
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	if opts.ReplicationDelay == 0 {
		opts.ReplicationDelay = 200 * time.Millisecond
	}
	if opts.ReplicationThreshold == 0 {
		opts.ReplicationThreshold = 15 * time.Minute
	}
	if opts.InventoryRowsPerFile <= 0 {
		opts.InventoryRowsPerFile = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	sb := &Sandbox{
		opts:    opts,
		log:     opts.Logger,
		faults:  newFaults(),
		calls:   newCalls(),
		batches: map[string][]Batch{},
	}
	sb.ctx, sb.cancel = context.WithCancel(context.Background())
	sb.store = newStore(sb.now)
	sb.store.onWrite = sb.onWrite
	sb.queues = newQueues(sb.now)
	sb.sqs = newSQSServer(sb)
	sb.batch = newBatchOps(sb)
	sb.sns = newSNSServer(sb)
	sb.athena = newAthenaServer(sb)
	sb.stacks = newStacks()
	sb.iam = newIdentities(sb)

	var dynamo http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb.writeServiceError(w, r, "dynamodb", http.StatusServiceUnavailable, "ServiceUnavailable", "the sandbox was started without DynamoDB")
	})
	if opts.DynamoDB {
		d, err := startDynalite(ctx)
		if err != nil {
			sb.cancel()
			return nil, err
		}
		sb.dynamo = d
		dynamo = sb.dynamoProxy(d)
	}
	services := map[string]http.Handler{
		"s3":             newS3Front(sb),
		"sqs":            sb.sqs,
		"sns":            sb.sns,
		"cloudformation": sb.stacks,
		"dynamodb":       dynamo,
		"iam":            iamServer{sb.iam},
		"sts":            stsServer{sb.iam},
		"athena":         sb.athena,
	}
	// Each AWS request is counted as it arrives, then the crash and service
	// faults decide whether it is dispatched, held, refused or dropped.
	// S3 Control signs as s3: faults on s3 act on it, and Calls counts it
	// apart, as s3control.
	control := sb.controlHandler()
	router := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.IsAbs() && r.URL.Host == strings.TrimPrefix(sb.ctlURL, "http://") {
			// Some clients (Python's among them) proxy loopback addresses
			// too when HTTP_PROXY is set.
			control.ServeHTTP(w, r)
			return
		}
		if !sb.proxiable(r) {
			http.Error(w, fmt.Sprintf("The sandbox is not a general HTTP proxy: it serves %s and the <label>.127.0.0.1 names of its own port, not %s.", sb.awsURL, r.URL.Host), http.StatusBadGateway)
			return
		}
		svc := signingService(r)
		if services[svc] == nil {
			svc = "s3"
		}
		handler, counted := services[svc], svc
		if svc == "s3" && isS3Control(r) {
			handler, counted = sb.batch, "s3control"
		}
		op, resource := callOf(r, counted)
		sb.calls.add(counted, op, resource)
		switch sb.faults.admit(r, svc) {
		case admitRefuse:
			sb.writeServiceError(w, r, svc, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable (a fault injected in the sandbox).")
		case admitForbid:
			sb.writeForbidden(w, r, svc, op, resource)
		case admitDrop:
			dropConnection(w)
		case admitLose:
			handler.ServeHTTP(newResponseBuffer(), r)
			sb.writeServiceError(w, r, svc, http.StatusInternalServerError, internalCode(svc), "The request was processed, but its answer was lost (a fault injected in the sandbox).")
		default:
			handler.ServeHTTP(w, r)
		}
	})
	// Both addresses are known before either server answers: the router
	// reads them.
	awsL, err := listen()
	if err != nil {
		sb.Close()
		return nil, err
	}
	ctlL, err := listen()
	if err != nil {
		awsL.Close()
		sb.Close()
		return nil, err
	}
	sb.awsURL, sb.ctlURL = "http://"+awsL.Addr().String(), "http://"+ctlL.Addr().String()
	sb.aws, sb.control = serve(awsL, router), serve(ctlL, control)
	return sb, nil
}

// signingService reads the service from a SigV4 credential scope, falling
// back to DynamoDB's X-Amz-Target for unsigned calls.
func signingService(r *http.Request) string {
	if scope := credentialScope(r); scope != nil {
		return scope[3]
	}
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_") {
		return "dynamodb"
	}
	return "s3"
}

func listen() (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	return l, nil
}

func serve(l net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv
}

func (sb *Sandbox) now() time.Time { return time.Now() }

// spawn runs fn in the background until the sandbox closes. Once Close has
// begun it runs nothing and returns false.
func (sb *Sandbox) spawn(fn func()) bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.closing {
		return false
	}
	sb.wg.Add(1)
	go func() {
		defer sb.wg.Done()
		fn()
	}()
	return true
}

// Close stops the servers, replication, the event source mappings and
// dynalite, in that order, so no request starts work that Close would miss.
func (sb *Sandbox) Close() error {
	sb.mu.Lock()
	sb.closing = true
	sb.mu.Unlock()
	sb.faults.shutdown() // held requests would keep Shutdown waiting
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range []*http.Server{sb.aws, sb.control} {
		if srv != nil {
			errs = append(errs, srv.Shutdown(ctx))
		}
	}
	sb.cancel()
	sb.wg.Wait()
	sb.athena.close()
	sb.dynamo.stop()
	return errors.Join(errs...)
}

// proxiable reports whether the sandbox serves a request. Requests in
// origin form always; requests in absolute form, as an HTTP proxy receives
// them, only for the sandbox's own port on 127.0.0.1 or a name under it.
// That is how a process whose environment sets HTTP_PROXY to the sandbox
// reaches S3 Control, whose SDK prefixes the endpoint's host with the
// account id (000000000000.127.0.0.1:PORT), a name that resolves nowhere.
func (sb *Sandbox) proxiable(r *http.Request) bool {
	if !r.URL.IsAbs() {
		return true
	}
	host, port, err := net.SplitHostPort(r.URL.Host)
	if err != nil || r.URL.Scheme != "http" || port != sb.port() {
		return false
	}
	return host == "127.0.0.1" || strings.HasSuffix(host, ".127.0.0.1")
}

// port is the AWS endpoint's port.
func (sb *Sandbox) port() string {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(sb.awsURL, "http://"))
	return port
}

// dialAddr sends a dial for <label>.127.0.0.1 on the sandbox's port to
// 127.0.0.1, and leaves every other address alone.
func (sb *Sandbox) dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && port == sb.port() && strings.HasSuffix(host, ".127.0.0.1") {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// Endpoint is the one URL serving S3, S3 Control, SQS, SNS, DynamoDB,
// CloudFormation, IAM, STS and Athena.
func (sb *Sandbox) Endpoint() string { return sb.awsURL }

// ControlURL is the control API's base URL.
func (sb *Sandbox) ControlURL() string { return sb.ctlURL }

// Dummy credentials the sandbox accepts; it checks no signature.
const (
	AccessKeyID     = "AKIASANDBOXSANDBOX00"
	SecretAccessKey = "sandbox/secret/key/not/checked/0000000000"
)

// Env returns the environment that points the AWS SDK at the sandbox, in a
// stable order.
func (sb *Sandbox) Env() [][2]string {
	return [][2]string{
		{"AWS_ENDPOINT_URL_S3", sb.awsURL},
		{"AWS_ENDPOINT_URL_SNS", sb.awsURL},
		{"AWS_ENDPOINT_URL_DYNAMODB", sb.awsURL},
		{"AWS_ENDPOINT_URL_CLOUDFORMATION", sb.awsURL},
		{"AWS_ENDPOINT_URL_SQS", sb.awsURL},
		{"AWS_ENDPOINT_URL_S3_CONTROL", sb.awsURL},
		{"AWS_ENDPOINT_URL_IAM", sb.awsURL},
		{"AWS_ENDPOINT_URL_STS", sb.awsURL},
		{"AWS_ENDPOINT_URL_ATHENA", sb.awsURL},
		// S3 Control's SDK calls 000000000000.127.0.0.1:PORT, which no
		// resolver knows; through the proxy the sandbox gets it anyway. Go
		// never proxies loopback addresses or localhost, so every other
		// call to the sandbox goes direct.
		{"HTTP_PROXY", sb.awsURL},
		{"AWS_ACCESS_KEY_ID", AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", SecretAccessKey},
		{"AWS_REGION", defaultRegion},
		{"REPLAUDIT_SANDBOX_URL", sb.ctlURL},
	}
}

// AWSConfig returns an SDK configuration for a region that reaches the
// sandbox, for in-process tests that cannot set the environment. Its HTTP
// client dials the sandbox for <label>.127.0.0.1 on the sandbox's port, the
// host S3 Control's SDK makes of the endpoint by prefixing the account id.
func (sb *Sandbox) AWSConfig(ctx context.Context, region string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		config.WithBaseEndpoint(sb.awsURL),
		config.WithHTTPClient(awshttp.NewBuildableClient()),
	)
	if err != nil {
		return cfg, err
	}
	// The loader may have put a CA bundle (AWS_CA_BUNDLE) in the client, so
	// the dialer goes on top of what it built. Frozen, the client keeps it:
	// each service client would otherwise put its own dialer back. Every
	// client made from this configuration then shares one connection pool,
	// where each had its own: it keeps as many idle connections as they did.
	buildable, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		return cfg, fmt.Errorf("aws config: the HTTP client is a %T, not the SDK's buildable client", cfg.HTTPClient)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	cfg.HTTPClient = buildable.WithTransportOptions(func(tr *http.Transport) {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, sb.dialAddr(addr))
		}
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 200, 200
	}).Freeze()
	return cfg, nil
}

// InjectFault adds a fault, or replaces the one of its kind on its bucket
// or service, or the crash. It returns an error, one sentence, for a fault
// it cannot apply.
func (sb *Sandbox) InjectFault(f Fault) error { return sb.faults.add(f) }

// ClearFaults lifts the faults on a bucket, or all faults, on buckets and
// services and the crash, for "".
func (sb *Sandbox) ClearFaults(bucket string) { sb.faults.clear(Fault{Bucket: bucket}) }

// ClearFaultsMatching lifts the faults whose bucket, service and kind equal
// the non-empty ones of match: Fault{Service: "dynamodb"} lifts DynamoDB's
// faults, Fault{Kind: FaultCrash} the crash, Fault{} every fault.
func (sb *Sandbox) ClearFaultsMatching(match Fault) { sb.faults.clear(match) }

// Faults lists the faults in force: bucket faults, then service faults,
// then the crash.
func (sb *Sandbox) Faults() []Fault { return sb.faults.list() }

// Held is the number of AWS requests a hang or a crash fault holds now. A
// test waits on it to know that a call is stuck, or that the sandbox has
// seen its client give up.
func (sb *Sandbox) Held() int { return sb.faults.heldCount() }

// SNSMessages returns every message published so far.
func (sb *Sandbox) SNSMessages() []SNSMessage { return sb.sns.published() }

// Calls returns API call counts per service, operation and resource.
func (sb *Sandbox) Calls() []Call { return sb.calls.list() }

// ResetCalls zeroes the call counts.
func (sb *Sandbox) ResetCalls() { sb.calls.reset() }

// CreateQueue creates a queue (and its dead-letter queue) and returns its ARN.
func (sb *Sandbox) CreateQueue(o QueueOptions) (string, error) { return sb.queues.create(o) }

// QueueMessages returns the messages a queue holds, received or not.
func (sb *Sandbox) QueueMessages(arn string) []Message { return sb.queues.messages(arn) }

// ReceiveMessages takes up to max visible messages off a queue and deletes
// them, for tests and tools that read a queue with no function attached.
func (sb *Sandbox) ReceiveMessages(arn string, max int) []Message {
	msgs := sb.queues.receive(arn, max)
	out := make([]Message, len(msgs))
	receipts := make([]string, len(msgs))
	for i, m := range msgs {
		out[i], receipts[i] = m.Message, m.receipt
	}
	sb.queues.remove(arn, receipts)
	return out
}

// DeadLetters returns the messages in every dead-letter queue.
func (sb *Sandbox) DeadLetters() []Message { return sb.queues.deadLettered() }

// AddEventSourceMapping starts delivering a queue's messages to a function.
// It stops when the sandbox closes.
func (sb *Sandbox) AddEventSourceMapping(o MappingOptions) error {
	if !sb.queues.exists(o.QueueARN) {
		return fmt.Errorf("event source mapping: queue %s does not exist", o.QueueARN)
	}
	if o.Function == nil {
		return errors.New("event source mapping: no function")
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 10
	}
	if o.BatchSize > 10000 {
		return fmt.Errorf("event source mapping: batch size %d is over 10000", o.BatchSize)
	}
	if o.Poll <= 0 {
		o.Poll = 10 * time.Millisecond
	}
	if !sb.spawn(func() { sb.runMapping(sb.ctx, o) }) {
		return errors.New("event source mapping: the sandbox is closed")
	}
	return nil
}

func (sb *Sandbox) recordBatch(queue string, b Batch) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.batches[queue] = append(sb.batches[queue], b)
}

// Batches returns the invocations a queue's mapping made, oldest first.
func (sb *Sandbox) Batches(queueARN string) []Batch {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return append([]Batch{}, sb.batches[queueARN]...)
}
