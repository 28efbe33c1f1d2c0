package sandbox

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// controlHandler serves the sandbox's control API, JSON over HTTP:
//
//	POST   /faults         inject a Fault: {"bucket", "service", "kind",
//	                       "reason", "millis", "share", "after"}
//	GET    /faults         list the faults in force
//	DELETE /faults         lift all faults, or those matching ?bucket=NAME,
//	                       ?service=NAME and ?kind=KIND
//	GET    /held           {"held": N}: requests a hang or crash holds now
//	POST   /redrive        {"bucket"}: replicate again what FAILED; answers
//	                       {"started": N}
//	POST   /inventory      {"bucket"}: write the bucket's inventories now;
//	                       answers {"manifests": ["s3://..."]}
//	GET    /jobs           every S3 Batch Operations job, with its tasks
//	GET    /sns/messages   every published SNS message
//	GET    /calls          API call counts per service, operation and resource
//	DELETE /calls          zero the counts
//	GET    /dlq            messages in dead-letter queues
//	POST   /queues         create a queue: {"name", "region", "delaySeconds",
//	                       "visibilityTimeoutSeconds", "maxReceiveCount"}
//	GET    /queues/messages?arn=ARN   messages held in a queue
//
// It answers only requests for its own address, with no Origin or its own:
// see ownAddressOnly.
func (sb *Sandbox) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := decodeStrict(r, &f); err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		if err := sb.InjectFault(f); err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, sb.Faults())
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(sb.Faults()))
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		match := Fault{Bucket: q.Get("bucket"), Service: q.Get("service"), Kind: q.Get("kind")}
		if match.Service != "" && !knownService(match.Service) {
			writeJSONError(w, http.StatusBadRequest, fmt.Errorf("unknown service %q: want one of %s", match.Service, strings.Join(faultServices, ", ")))
			return
		}
		if match.Kind != "" && !slices.Contains(faultKinds, match.Kind) {
			writeJSONError(w, http.StatusBadRequest, unknownKind(match.Kind))
			return
		}
		sb.ClearFaultsMatching(match)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /held", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"held": sb.Held()})
	})
	mux.HandleFunc("POST /redrive", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Bucket string `json:"bucket"`
		}
		if err := decodeStrict(r, &in); err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		n, err := sb.Redrive(in.Bucket)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"started": n})
	})
	mux.HandleFunc("POST /inventory", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Bucket string `json:"bucket"`
		}
		if err := decodeStrict(r, &in); err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		manifests, err := sb.WriteInventory(in.Bucket)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string][]string{"manifests": manifests})
	})
	mux.HandleFunc("GET /jobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, sb.Jobs())
	})
	mux.HandleFunc("GET /sns/messages", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(sb.SNSMessages()))
	})
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(sb.Calls()))
	})
	mux.HandleFunc("DELETE /calls", func(w http.ResponseWriter, r *http.Request) {
		sb.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /dlq", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, sb.DeadLetters())
	})
	mux.HandleFunc("POST /queues", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name              string `json:"name"`
			Region            string `json:"region"`
			DelaySeconds      int    `json:"delaySeconds"`
			VisibilityTimeout int    `json:"visibilityTimeoutSeconds"`
			MaxReceiveCount   int    `json:"maxReceiveCount"`
		}
		if err := decodeStrict(r, &in); err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		arn, err := sb.CreateQueue(QueueOptions{
			Name: in.Name, Region: in.Region, Delay: time.Duration(in.DelaySeconds) * time.Second,
			VisibilityTimeout: time.Duration(in.VisibilityTimeout) * time.Second, MaxReceiveCount: in.MaxReceiveCount,
		})
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"arn": arn})
	})
	mux.HandleFunc("GET /queues/messages", func(w http.ResponseWriter, r *http.Request) {
		arn := r.URL.Query().Get("arn")
		if !sb.queues.exists(arn) {
			writeJSONError(w, http.StatusNotFound, fmt.Errorf("queue %q does not exist", arn))
			return
		}
		writeJSON(w, http.StatusOK, nonNil(sb.QueueMessages(arn)))
	})
	return sb.ownAddressOnly(mux)
}

// ownAddressOnly refuses, with a 403, what a web page can send to a port on
// loopback. After DNS rebinding its own name resolves to 127.0.0.1, and its
// requests carry that name in Host; a cross-site POST or DELETE carries the
// page's Origin. curl and the SDKs send the control API's own address and
// no Origin. A request that came in absolute form through the AWS
// endpoint's proxy path has its URL's host as Host, so it is checked alike.
func (sb *Sandbox) ownAddressOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(sb.ctlURL, "http://"))
		if host, p, err := net.SplitHostPort(r.Host); err != nil || p != port ||
			!(host == "127.0.0.1" || host == "::1" || strings.EqualFold(host, "localhost")) {
			writeJSONError(w, http.StatusForbidden, fmt.Errorf("refused: Host %q is not the control API's address (127.0.0.1:%s, localhost:%s or [::1]:%s), "+
				"as a web page's request after DNS rebinding would be", r.Host, port, port, port))
			return
		}
		if origins, ok := r.Header["Origin"]; ok &&
			(len(origins) != 1 || origins[0] != "http://127.0.0.1:"+port && origins[0] != "http://localhost:"+port) {
			writeJSONError(w, http.StatusForbidden, fmt.Errorf("refused: Origin %q is not the control API's own (http://127.0.0.1:%s or http://localhost:%s), "+
				"as a web page's cross-site request would be; curl and the SDKs send no Origin", strings.Join(origins, ", "), port, port))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeJSONError answers {"error":"..."} on one line.
func writeJSONError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
