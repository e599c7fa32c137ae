package openapitest_test

import (
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/http/openapitest"
)

const petDoc = `openapi: 3.1.0
info: {title: pets, version: "1"}
security:
  - bearer: []
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: string}
        name: {type: string}
        born: {type: string, format: date-time}
    Problem:
      type: object
      required: [code]
      properties:
        code: {type: string}
paths:
  /pets:
    post:
      operationId: createPet
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string, minLength: 1}
      responses:
        "201":
          description: The pet.
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
        "422":
          description: Invalid.
          content:
            application/problem+json:
              schema: {$ref: '#/components/schemas/Problem'}
  /health:
    get:
      operationId: health
      security: []
      responses:
        "204": {description: Fine.}
`

func petValidator(t *testing.T) *openapitest.Validator {
	t.Helper()
	v, err := openapitest.New([]byte(petDoc))
	require.NoError(t, err)
	return v
}

func exchange(method, path, reqBody string, status int, contentType, respBody string, header ...string) (*nethttp.Request, []byte, *nethttp.Response, []byte) {
	req := httptest.NewRequest(method, "http://api.test"+path, strings.NewReader(reqBody))
	if reqBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp := &nethttp.Response{StatusCode: status, Header: nethttp.Header{}, Body: io.NopCloser(strings.NewReader(respBody))}
	if contentType != "" {
		resp.Header.Set("Content-Type", contentType)
	}
	return req, []byte(reqBody), resp, []byte(respBody)
}

func TestCheckAcceptsDocumentedExchanges(t *testing.T) {
	t.Parallel()
	v := petValidator(t)
	require.Empty(t, v.Check(exchange("POST", "/pets", `{"name":"rex"}`, 201, "application/json",
		`{"id":"p1","name":"rex","born":"2024-01-02T03:04:05Z"}`, "Authorization", "Bearer x")))
	require.Empty(t, v.Check(exchange("POST", "/pets", `{"name":""}`, 422, "application/problem+json", `{"code":"validation_failed"}`)),
		"a refused request need not match the request schema")
	require.Empty(t, v.Check(exchange("GET", "/health", "", 204, "", "")))
	require.Empty(t, v.Check(exchange("GET", "/nope", "", 404, "application/problem+json", `{"status":404,"code":"not_found"}`)),
		"the router's answer to an unknown route has no operation")
	require.Empty(t, v.Check(exchange("DELETE", "/pets", "", 405, "application/problem+json", `{"status":405,"code":"method_not_allowed"}`)))

	// A client that followed a redirect got the answer to its last request.
	req, body, resp, respBody := exchange("POST", "/pets", `{"name":"rex"}`, 204, "", "", "Authorization", "Bearer x")
	resp.Request = httptest.NewRequest("GET", "http://api.test/health", nil)
	require.Empty(t, v.Check(req, body, resp, respBody), "the answer is checked against the request it answers")
	resp.Request = req
	require.NotEmpty(t, v.Check(req, body, resp, respBody))
}

func TestCheckReportsDrift(t *testing.T) {
	t.Parallel()
	v := petValidator(t)
	auth := []string{"Authorization", "Bearer x"}
	for name, c := range map[string]struct {
		method, path, reqBody string
		status                int
		contentType, body     string
		header                []string
		want                  string
	}{
		"undocumented status": {"POST", "/pets", `{"name":"rex"}`, 200, "application/json", `{"id":"p1","name":"rex"}`, auth, "200"},
		"missing field":       {"POST", "/pets", `{"name":"rex"}`, 201, "application/json", `{"id":"p1"}`, auth, "name"},
		"wrong type":          {"POST", "/pets", `{"name":"rex"}`, 201, "application/json", `{"id":1,"name":"rex"}`, auth, "id"},
		"bad format":          {"POST", "/pets", `{"name":"rex"}`, 201, "application/json", `{"id":"p1","name":"rex","born":"yesterday"}`, auth, "born"},
		"undocumented type":   {"POST", "/pets", `{"name":"rex"}`, 201, "text/plain", `rex`, auth, "text/plain"},
		"accepted bad input":  {"POST", "/pets", `{"name":""}`, 201, "application/json", `{"id":"p1","name":""}`, auth, "request"},
		"accepted no token":   {"POST", "/pets", `{"name":"rex"}`, 201, "application/json", `{"id":"p1","name":"rex"}`, nil, "request"},
		"undocumented route":  {"GET", "/cats", "", 200, "application/json", `{}`, nil, "no operation GET /cats"},
		"not a router answer": {"GET", "/cats", "", 404, "text/plain", `no`, nil, "no operation"},
	} {
		problems := v.Check(exchange(c.method, c.path, c.reqBody, c.status, c.contentType, c.body, c.header...))
		require.NotEmpty(t, problems, name)
		require.Contains(t, strings.Join(problems, "\n"), c.want, name)
	}
}

type recorder struct{ failures []string }

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, format)
}

func TestTransportReportsAndKeepsTheBody(t *testing.T) {
	t.Parallel()
	v := petValidator(t)
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"id":"p1"}`)
	}))
	defer srv.Close()
	var rec recorder
	client := &nethttp.Client{Transport: v.Transport(&rec, nil)}
	resp, err := client.Post(srv.URL+"/pets", "application/json", strings.NewReader(`{"name":"rex"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, `{"id":"p1"}`, string(body), "the caller still reads the body")
	require.Len(t, rec.failures, 1, "the missing name is reported")
}

func TestNewRefusesAnInvalidDocument(t *testing.T) {
	t.Parallel()
	// A comma inside a flow mapping splits a description into an unknown
	// key of the response object.
	bad := strings.Replace(petDoc, `"204": {description: Fine.}`, `"204": {description: Fine, really.}`, 1)
	_, err := openapitest.New([]byte(bad))
	require.ErrorContains(t, err, "really.")
	require.NotEmpty(t, openapitest.DocumentProblems([]byte(bad)))
	require.Empty(t, openapitest.DocumentProblems([]byte(petDoc)))
}

func TestDefaultLoadsTheServedDocument(t *testing.T) {
	t.Parallel()
	v, err := openapitest.Default()
	require.NoError(t, err)
	require.NotNil(t, v)
}
