package http_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/http/openapitest"
)

// apiResp is one HTTP answer with its JSON body.
type apiResp struct {
	Status int
	Header nethttp.Header
	Raw    []byte
	Body   map[string]any
}

// apiCall sends one request to the API at base and reads the whole answer.
// A nil body sends none, a string is sent as it is and anything else as its
// JSON; a body is labelled application/json. A non-empty token is sent as a
// bearer token. headers are name, value pairs set last, so they may
// override the others.
//
// Every exchange is checked against http/openapi.yaml (see openapitest): a
// status the operation does not list, a body that does not match its
// schema, or an accepted request the document would refuse fails the
// calling test, which goes on; so does a timestamp of an API or ops answer
// in another format than the API's one (checkTimestamps).
func apiCall(t testing.TB, base, method, path, token string, body any, headers ...string) apiResp {
	t.Helper()
	var sent []byte
	switch b := body.(type) {
	case nil:
	case string:
		sent = []byte(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		sent = raw
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(sent)
	}
	req, err := nethttp.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := nethttp.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	checkDocumented(t, req, sent, resp, raw)
	checkTimestamps(t, req, resp, raw)
	r := apiResp{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.Body)
	}
	return r
}

// checkDocumented fails t, without stopping it, when the exchange
// disagrees with the OpenAPI document.
func checkDocumented(t testing.TB, req *nethttp.Request, reqBody []byte, resp *nethttp.Response, respBody []byte) {
	t.Helper()
	v, err := openapitest.Default()
	require.NoError(t, err)
	if problems := v.Check(req, reqBody, resp, respBody); len(problems) > 0 {
		t.Errorf("%s", openapitest.Report(req, resp, problems))
	}
}

// apiTime is the one timestamp format of the API: RFC 3339, UTC,
// milliseconds.
var apiTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

// checkTimestamps fails t, without stopping it, when a JSON answer of an
// API or ops route has a timestamp (a string member named *_at or
// last_seen) in another format than apiTime. Objects the caller filled in
// (store settings, metadata) are not the API's and are skipped.
func checkTimestamps(t testing.TB, req *nethttp.Request, resp *nethttp.Response, body []byte) {
	t.Helper()
	p := req.URL.Path
	if !strings.HasPrefix(p, "/v1/") && !strings.HasPrefix(p, "/ops/") ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return
	}
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if k == "settings" || k == "metadata" {
					continue
				}
				if s, ok := e.(string); ok && (strings.HasSuffix(k, "_at") || k == "last_seen") && !apiTime.MatchString(s) {
					t.Errorf("%s %s: %s.%s = %q is not an API timestamp (RFC 3339, UTC, milliseconds)", req.Method, p, path, k, s)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("$", doc)
}

// requireStatus fails with the body when the status differs.
func (r apiResp) requireStatus(t testing.TB, status int) apiResp {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Raw)
	return r
}

// requireProblem checks a problem+json answer with the given status and code.
func (r apiResp) requireProblem(t testing.TB, status int, code string) apiResp {
	t.Helper()
	r.requireStatus(t, status)
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
	require.Equal(t, code, r.Body["code"], "body: %s", r.Raw)
	return r
}

// fields returns the fields named by a validation problem with their
// messages.
func (r apiResp) fields() map[string]string {
	out := map[string]string{}
	errs, _ := r.Body["errors"].([]any)
	for _, e := range errs {
		m := e.(map[string]any)
		out[m["field"].(string)] = m["message"].(string)
	}
	return out
}

// fieldNames returns the fields named by a validation problem, in the
// order the problem lists them.
func (r apiResp) fieldNames() []string {
	var out []string
	errs, _ := r.Body["errors"].([]any)
	for _, e := range errs {
		out = append(out, e.(map[string]any)["field"].(string))
	}
	return out
}

// str returns the string at path in the body, or "" when there is none.
func (r apiResp) str(path ...string) string {
	var v any = r.Body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// list returns the objects of a list answer's data.
func (r apiResp) list() []map[string]any {
	var out []map[string]any
	data, _ := r.Body["data"].([]any)
	for _, d := range data {
		out = append(out, d.(map[string]any))
	}
	return out
}
