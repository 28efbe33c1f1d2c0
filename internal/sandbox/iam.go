package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CallerRole is the role the sandbox's callers act as until
// SetCallerIdentity says otherwise: STS's GetCallerIdentity answers an
// assumed-role ARN of it (CallerIdentity), and its one inline policy allows
// every action on every resource, as an account's administrator may.
const CallerRole = "sandbox-caller"

// CallerIdentity is the identity GetCallerIdentity answers by default: a
// session of CallerRole.
const CallerIdentity = "arn:aws:sts::" + Account + ":assumed-role/" + CallerRole + "/sandbox"

// Statement is one statement of a role's inline policy, in IAM's terms:
// Effect is Allow or Deny; Action and Resource may use the wildcards * and
// ?; Condition takes the StringEquals operator only (key to value, the key
// case-insensitive). A statement with no Resource applies to none.
type Statement struct {
	Effect    string
	Action    []string
	Resource  []string
	Condition map[string]map[string]string
}

// Policy is a role's inline policy.
type Policy struct {
	Name      string
	Statement []Statement
}

// role is an IAM role the sandbox knows.
type role struct {
	name, path, arn, id string
	created             time.Time
	policies            []Policy
}

// identities stands for IAM and STS: the roles tests declare with PutRole,
// who the caller is, and IAM's policy simulator over those roles. It
// answers GetCallerIdentity (sts), GetRole and SimulatePrincipalPolicy
// (iam) in their query protocol. It checks no request's permissions: only
// the simulator evaluates policies, when asked.
type identities struct {
	sb     *Sandbox
	mu     sync.Mutex
	roles  map[string]*role // by name: IAM role names are unique whatever the path
	caller string
	nextID uint64
}

func newIdentities(sb *Sandbox) *identities {
	ids := &identities{sb: sb, roles: map[string]*role{}, caller: CallerIdentity}
	_, _ = ids.put(CallerRole, []Policy{{Name: "administrator", Statement: []Statement{{Effect: "Allow", Action: []string{"*"}, Resource: []string{"*"}}}}})
	return ids
}

// PutRole declares a role in the sandbox's account, or replaces the one of
// that name, with its inline policies, and returns its ARN. A name may
// carry a path: "service-role/replaudit" is the role replaudit under the
// path /service-role/. It returns an error, one sentence, for a policy the
// simulator cannot evaluate.
func (sb *Sandbox) PutRole(name string, policies ...Policy) (string, error) {
	return sb.iam.put(name, policies)
}

// SetCallerIdentity sets the ARN STS's GetCallerIdentity answers: an
// assumed role (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION), a user, or
// anything else. "" restores CallerIdentity.
func (sb *Sandbox) SetCallerIdentity(arn string) {
	sb.iam.mu.Lock()
	defer sb.iam.mu.Unlock()
	if arn == "" {
		arn = CallerIdentity
	}
	sb.iam.caller = arn
}

func (ids *identities) put(name string, policies []Policy) (string, error) {
	path := "/"
	if i := strings.LastIndex(name, "/"); i >= 0 {
		path, name = "/"+strings.Trim(name[:i], "/")+"/", name[i+1:]
		if path == "//" {
			path = "/"
		}
	}
	if name == "" || len(name) > 64 || strings.ContainsAny(name, " :") {
		return "", fmt.Errorf("role name %q is not an IAM role name", name)
	}
	for _, p := range policies {
		for i, st := range p.Statement {
			if st.Effect != "Allow" && st.Effect != "Deny" {
				return "", fmt.Errorf("policy %q statement %d: Effect must be Allow or Deny, not %q", p.Name, i, st.Effect)
			}
			for op := range st.Condition {
				if op != "StringEquals" {
					return "", fmt.Errorf("policy %q statement %d: the sandbox evaluates the StringEquals condition operator only, not %s", p.Name, i, op)
				}
			}
		}
	}
	ids.mu.Lock()
	defer ids.mu.Unlock()
	ids.nextID++
	r := &role{
		name: name, path: path, arn: "arn:aws:iam::" + Account + ":role" + path + name,
		id: fmt.Sprintf("AROASANDBOX%09d", ids.nextID), created: ids.sb.now().UTC(),
		policies: append([]Policy(nil), policies...),
	}
	ids.roles[name] = r
	return r.arn, nil
}

const (
	iamXMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsXMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

type iamError struct {
	status        int
	code, message string
}

// iamServer and stsServer answer the two services' query protocols from
// one set of identities.
type (
	iamServer struct{ ids *identities }
	stsServer struct{ ids *identities }
)

func (s stsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.ids.serve(w, r, stsXMLNS, func(action string, f url.Values) (string, *iamError) {
		if action != "GetCallerIdentity" {
			return "", &iamError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The sandbox's STS answers GetCallerIdentity only, not %s.", action)}
		}
		s.ids.mu.Lock()
		caller := s.ids.caller
		s.ids.mu.Unlock()
		account := Account
		if parts := strings.SplitN(caller, ":", 6); len(parts) == 6 && parts[4] != "" {
			account = parts[4]
		}
		userID := "AIDASANDBOX000000000"
		if _, rest, ok := strings.Cut(caller, ":assumed-role/"); ok {
			roleName, session, _ := strings.Cut(rest, "/")
			userID = "AROASANDBOX000000000:" + session
			s.ids.mu.Lock()
			if r := s.ids.roles[roleName]; r != nil {
				userID = r.id + ":" + session
			}
			s.ids.mu.Unlock()
		}
		return "<Arn>" + escape(caller) + "</Arn><UserId>" + escape(userID) + "</UserId><Account>" + account + "</Account>", nil
	})
}

func (s iamServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.ids.serve(w, r, iamXMLNS, func(action string, f url.Values) (string, *iamError) {
		switch action {
		case "GetRole":
			return s.ids.getRole(f.Get("RoleName"))
		case "SimulatePrincipalPolicy":
			return s.ids.simulate(f)
		}
		return "", &iamError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The sandbox's IAM answers GetRole and SimulatePrincipalPolicy only, not %s.", action)}
	})
}

// serve parses a query-protocol request, runs one action and writes its
// answer, or its error, as the SDK expects them.
func (ids *identities) serve(w http.ResponseWriter, r *http.Request, xmlns string, run func(action string, f url.Values) (string, *iamError)) {
	requestID := ids.requestID()
	if err := r.ParseForm(); err != nil {
		writeQueryError(w, xmlns, http.StatusBadRequest, "MalformedQueryString", err.Error(), requestID)
		return
	}
	action := r.PostForm.Get("Action")
	result, ierr := run(action, r.PostForm)
	if ierr != nil {
		writeQueryError(w, xmlns, ierr.status, ierr.code, ierr.message, requestID)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`,
		action, xmlns, action, result, action, requestID, action)
}

func (ids *identities) requestID() string {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	ids.nextID++
	return fmt.Sprintf("%08x-1a1a-4000-8000-%012x", ids.nextID, ids.nextID)
}

func noSuchRole(name string) *iamError {
	return &iamError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The role with name %s cannot be found.", name)}
}

func (ids *identities) getRole(name string) (string, *iamError) {
	if name == "" {
		return "", &iamError{http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"}
	}
	ids.mu.Lock()
	r, ok := ids.roles[name]
	ids.mu.Unlock()
	if !ok {
		return "", noSuchRole(name)
	}
	return fmt.Sprintf("<Role><Path>%s</Path><RoleName>%s</RoleName><RoleId>%s</RoleId><Arn>%s</Arn><CreateDate>%s</CreateDate>"+
		"<AssumeRolePolicyDocument>%s</AssumeRolePolicyDocument><MaxSessionDuration>3600</MaxSessionDuration></Role>",
		escape(r.path), escape(r.name), r.id, escape(r.arn), r.created.Format(time.RFC3339),
		url.QueryEscape(`{"Version":"2012-10-17","Statement":[]}`)), nil
}

// members reads a query-protocol list: prefix.member.1, prefix.member.2...
func members(f url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := f[fmt.Sprintf("%s.member.%d", prefix, i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

// decision is one action on one resource, simulated.
type decision struct {
	action, resource, decision string
	matched                    []string // the policies whose statements decided it
	missing                    []string // condition keys the request did not give
}

// simulate answers SimulatePrincipalPolicy for a role the sandbox knows:
// one result per action and resource, as IAM gives them. An explicit Deny
// wins, then an Allow; with neither, the action is implicitly denied. A
// condition on a key the request's ContextEntries do not give does not
// hold, and the key is named among the result's MissingContextValues.
func (ids *identities) simulate(f url.Values) (string, *iamError) {
	source := f.Get("PolicySourceArn")
	actions := members(f, "ActionNames")
	if len(actions) == 0 {
		return "", &iamError{http.StatusBadRequest, "InvalidInput", "ActionNames must name at least one action."}
	}
	resources := members(f, "ResourceArns")
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	given := map[string][]string{}
	for i := 1; ; i++ {
		p := fmt.Sprintf("ContextEntries.member.%d", i)
		key := f.Get(p + ".ContextKeyName")
		if key == "" {
			break
		}
		given[strings.ToLower(key)] = members(f, p+".ContextKeyValues")
	}
	_, name, ok := strings.Cut(source, ":role/")
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	ids.mu.Lock()
	r := ids.roles[name]
	ids.mu.Unlock()
	if !ok || r == nil || r.arn != source {
		if !ok {
			return "", &iamError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The principal %s cannot be found: the sandbox knows roles only.", source)}
		}
		return "", noSuchRole(name)
	}

	var results []decision
	for _, action := range actions {
		for _, resource := range resources {
			results = append(results, evaluate(r.policies, action, resource, given))
		}
	}
	start := 0
	if m := f.Get("Marker"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 || n > len(results) {
			return "", &iamError{http.StatusBadRequest, "InvalidInput", fmt.Sprintf("Marker %q is not one this simulation gave.", m)}
		}
		start = n
	}
	end := len(results)
	if m := f.Get("MaxItems"); m != "" {
		if n, err := strconv.Atoi(m); err == nil && n > 0 && start+n < end {
			end = start + n
		}
	}
	var b strings.Builder
	b.WriteString("<EvaluationResults>")
	for _, d := range results[start:end] {
		fmt.Fprintf(&b, "<member><EvalActionName>%s</EvalActionName><EvalResourceName>%s</EvalResourceName><EvalDecision>%s</EvalDecision><MatchedStatements>",
			escape(d.action), escape(d.resource), d.decision)
		for _, p := range d.matched {
			fmt.Fprintf(&b, "<member><SourcePolicyId>%s</SourcePolicyId><SourcePolicyType>role</SourcePolicyType></member>", escape(p))
		}
		b.WriteString("</MatchedStatements><MissingContextValues>")
		for _, k := range d.missing {
			b.WriteString("<member>" + escape(k) + "</member>")
		}
		b.WriteString("</MissingContextValues></member>")
	}
	b.WriteString("</EvaluationResults>")
	if end < len(results) {
		fmt.Fprintf(&b, "<IsTruncated>true</IsTruncated><Marker>%d</Marker>", end)
	} else {
		b.WriteString("<IsTruncated>false</IsTruncated>")
	}
	return b.String(), nil
}

// evaluate decides one action on one resource under a role's policies.
func evaluate(policies []Policy, action, resource string, given map[string][]string) decision {
	d := decision{action: action, resource: resource, decision: "implicitDeny"}
	var allowedBy, deniedBy []string
	missing := map[string]bool{}
	for _, p := range policies {
		for _, st := range p.Statement {
			if !anyMatch(st.Action, action, true) || !anyMatch(st.Resource, resource, false) {
				continue
			}
			if !conditionHolds(st.Condition, given, missing) {
				continue
			}
			if st.Effect == "Deny" {
				deniedBy = append(deniedBy, p.Name)
			} else {
				allowedBy = append(allowedBy, p.Name)
			}
		}
	}
	switch {
	case len(deniedBy) > 0:
		d.decision, d.matched = "explicitDeny", deniedBy
	case len(allowedBy) > 0:
		d.decision, d.matched = "allowed", allowedBy
	}
	for k := range missing {
		d.missing = append(d.missing, k)
	}
	sort.Strings(d.missing)
	return d
}

func anyMatch(patterns []string, s string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase && wildcard(strings.ToLower(p), strings.ToLower(s)) || !foldCase && wildcard(p, s) {
			return true
		}
	}
	return false
}

// conditionHolds evaluates StringEquals: each key must be given, with one
// of its values equal to the statement's. Keys not given are added to
// missing.
func conditionHolds(cond map[string]map[string]string, given map[string][]string, missing map[string]bool) bool {
	holds := true
	for _, keys := range cond {
		for key, want := range keys {
			got, ok := given[strings.ToLower(key)]
			if !ok {
				missing[key] = true
				holds = false
				continue
			}
			found := false
			for _, v := range got {
				found = found || v == want
			}
			holds = holds && found
		}
	}
	return holds
}

// wildcard matches s against a pattern in which * stands for any run of
// characters, / included, and ? for any one character, as IAM matches
// actions and resources.
func wildcard(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
