package sandbox

import (
	"encoding/json"
	"fmt"
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
	return mux
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

func writeJSONError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
