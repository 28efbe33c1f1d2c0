package sandbox

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// SNSMessage is one message published to a topic.
type SNSMessage struct {
	ID         string            `json:"messageId"`
	Topic      string            `json:"topic"`
	Subject    string            `json:"subject,omitempty"`
	Body       string            `json:"body"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Time       time.Time         `json:"time"`
}

// snsServer speaks the SNS query protocol for the calls replaudit makes:
// CreateTopic, DeleteTopic, ListTopics, GetTopicAttributes and Publish. It
// records every published message.
type snsServer struct {
	sb       *Sandbox
	mu       sync.Mutex
	topics   map[string]bool
	messages []SNSMessage
	nextID   uint64
}

func newSNSServer(sb *Sandbox) *snsServer {
	return &snsServer{sb: sb, topics: map[string]bool{}}
}

type snsError struct {
	status        int
	code, message string
}

func (s *snsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.writeError(w, snsError{http.StatusBadRequest, "MalformedQueryString", err.Error()})
		return
	}
	action := r.PostForm.Get("Action")
	region := signingRegion(r)
	if region == "" {
		region = defaultRegion
	}
	topic := r.PostForm.Get("TopicArn")
	if topic == "" {
		topic = r.PostForm.Get("TargetArn")
	}
	result, serr := s.dispatch(action, region, topic, r)
	if serr != nil {
		s.writeError(w, *serr)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><%sResult>%s</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`,
		action, action, result, action, s.requestID(), action)
}

func (s *snsServer) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	return fmt.Sprintf("%08x-5a5a-4000-8000-%012x", s.nextID, s.nextID)
}

func escape(v string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(v))
	return b.String()
}

func (s *snsServer) dispatch(action, region, topic string, r *http.Request) (string, *snsError) {
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	switch action {
	case "CreateTopic":
		name := f.Get("Name")
		if name == "" || len(name) > 256 || strings.ContainsAny(name, " /:") {
			return "", &snsError{http.StatusBadRequest, "InvalidParameter", "Invalid parameter: Topic Name"}
		}
		arn := fmt.Sprintf("arn:aws:sns:%s:%s:%s", region, Account, name)
		s.topics[arn] = true
		return "<TopicArn>" + escape(arn) + "</TopicArn>", nil
	case "DeleteTopic":
		delete(s.topics, topic)
		return "", nil
	case "ListTopics":
		arns := make([]string, 0, len(s.topics))
		for arn := range s.topics {
			arns = append(arns, arn)
		}
		sort.Strings(arns)
		var b strings.Builder
		b.WriteString("<Topics>")
		for _, arn := range arns {
			b.WriteString("<member><TopicArn>" + escape(arn) + "</TopicArn></member>")
		}
		b.WriteString("</Topics>")
		return b.String(), nil
	case "GetTopicAttributes":
		if !s.topics[topic] {
			return "", &snsError{http.StatusNotFound, "NotFound", "Topic does not exist"}
		}
		return "<Attributes><entry><key>TopicArn</key><value>" + escape(topic) + "</value></entry></Attributes>", nil
	case "Publish":
		if !s.topics[topic] {
			return "", &snsError{http.StatusNotFound, "NotFound", "Topic does not exist"}
		}
		msg := f.Get("Message")
		if msg == "" {
			return "", &snsError{http.StatusBadRequest, "InvalidParameter", "Invalid parameter: Empty message"}
		}
		if len(msg) > 256*1024 {
			return "", &snsError{http.StatusBadRequest, "InvalidParameter", "Invalid parameter: Message too long"}
		}
		subject := f.Get("Subject")
		if len(subject) > 100 || strings.ContainsAny(subject, "\n\r") {
			return "", &snsError{http.StatusBadRequest, "InvalidParameter", "Invalid parameter: Subject"}
		}
		attrs := map[string]string{}
		for i := 1; ; i++ {
			p := fmt.Sprintf("MessageAttributes.entry.%d.", i)
			name := f.Get(p + "Name")
			if name == "" {
				break
			}
			attrs[name] = f.Get(p + "Value.StringValue")
		}
		s.nextID++
		id := fmt.Sprintf("%08x-5a5a-4000-8000-%012x", s.nextID, s.nextID)
		s.messages = append(s.messages, SNSMessage{ID: id, Topic: topic, Subject: subject, Body: msg, Attributes: attrs, Time: s.sb.now()})
		return "<MessageId>" + id + "</MessageId>", nil
	}
	return "", &snsError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", action)}
}

func (s *snsServer) writeError(w http.ResponseWriter, e snsError) {
	writeQueryError(w, "http://sns.amazonaws.com/doc/2010-03-31/", e.status, e.code, e.message, s.requestID())
}

func (s *snsServer) published() []SNSMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SNSMessage{}, s.messages...)
}
