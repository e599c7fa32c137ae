// Package openapitest checks HTTP exchanges against the edge's OpenAPI
// document, so tests catch a handler and http/openapi.yaml drifting apart.
//
// Every exchange a test sends through Check (or through a client made with
// Transport) must be described by the document: the operation exists, the
// response status is listed for it, the body matches the schema of its
// content type, and a request the edge accepted (status below 400) matches
// the operation's parameters, security and request body. Answers of the
// router itself to unknown routes (404 and 405 problems) have no operation
// and are accepted.
//
// The package is for tests only; it loads the document with
// github.com/pb33f/libopenapi and validates with
// github.com/pb33f/libopenapi-validator.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"

	vhttp "github.com/vayvahq/vayva/http"
)

// Validator checks exchanges against one OpenAPI 3.1 document. It is safe
// for concurrent use.
type Validator struct {
	// mu serialises validation: the library's caches are shared between
	// calls and tests run in parallel.
	mu sync.Mutex
	v  validator.Validator
}

var (
	defaultOnce sync.Once
	defaultV    *Validator
	defaultErr  error
)

// Default returns the validator of the document the edge serves
// (http.OpenAPI). It is built once per test binary, since building it
// compiles every schema of the document.
func Default() (*Validator, error) {
	defaultOnce.Do(func() { defaultV, defaultErr = New(vhttp.OpenAPI()) })
	return defaultV, defaultErr
}

// New builds a validator of doc. It fails when doc does not parse or is not
// a valid OpenAPI document; the error lists every problem found.
func New(doc []byte) (*Validator, error) {
	v, problems := build(doc)
	if len(problems) > 0 {
		return nil, fmt.Errorf("openapitest: the document is invalid:\n  %s", strings.Join(problems, "\n  "))
	}
	return &Validator{v: v}, nil
}

// DocumentProblems validates doc against the OpenAPI specification schema
// of its version and lists what is wrong with it, each with the place
// (JSON path and line) it was found; nil means valid.
func DocumentProblems(doc []byte) []string {
	_, problems := build(doc)
	return problems
}

// build parses doc, builds its validator and validates doc itself.
func build(doc []byte) (validator.Validator, []string) {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return nil, []string{"parse: " + err.Error()}
	}
	v, errs := validator.NewValidator(d, config.WithFormatAssertions())
	if len(errs) > 0 {
		var out []string
		for _, e := range errs {
			out = append(out, "build: "+e.Error())
		}
		return nil, out
	}
	var out []string
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			if len(e.SchemaValidationErrors) == 0 {
				out = append(out, fmt.Sprintf("%s: %s (line %d)", e.Message, e.Reason, e.SpecLine))
			}
			for _, se := range e.SchemaValidationErrors {
				out = append(out, fmt.Sprintf("%s: %s (line %d)", se.FieldPath, se.Reason, se.Line))
			}
		}
	}
	return v, out
}

// Check validates one exchange: req as sent with its body reqBody, and
// resp as received with its body respBody (the bodies are passed apart
// because the client has consumed them). It returns what disagrees with
// the document, nil when nothing does. Neither req nor resp is changed.
func (v *Validator) Check(req *nethttp.Request, reqBody []byte, resp *nethttp.Response, respBody []byte) []string {
	v.mu.Lock()
	defer v.mu.Unlock()

	// A client that followed redirects hands back the last answer, which
	// answers the last request (sent without a body), not req.
	if last := resp.Request; last != nil && (last.Method != req.Method || last.URL.String() != req.URL.String()) {
		req, reqBody = last, nil
	}

	r := withBody(req, reqBody)
	w := *resp
	w.Request = r
	w.Body = io.NopCloser(bytes.NewReader(respBody))
	_, errs := v.v.ValidateHttpResponse(r, &w)
	if unmatched(errs) {
		if routerAnswer(resp, respBody) {
			return nil
		}
		return []string{fmt.Sprintf("the document has no operation %s %s, yet the edge answered %d", req.Method, req.URL.Path, resp.StatusCode)}
	}
	out := describe("response", errs)
	if resp.StatusCode < 400 {
		// The edge accepted the request, so the document must accept it too.
		_, errs := v.v.ValidateHttpRequest(withBody(req, reqBody))
		out = append(out, describe("request", errs)...)
	}
	return out
}

// Reporter is the part of testing.TB that Transport reports through.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// Transport returns a RoundTripper that sends requests through base
// (http.DefaultTransport when nil) and reports through t every exchange
// that disagrees with the document; the test fails and goes on. Give a
// test's HTTP client this transport to check everything it sends.
func (v *Validator) Transport(t Reporter, base nethttp.RoundTripper) nethttp.RoundTripper {
	if base == nil {
		base = nethttp.DefaultTransport
	}
	return roundTripper{v: v, t: t, base: base}
}

type roundTripper struct {
	v    *Validator
	t    Reporter
	base nethttp.RoundTripper
}

func (rt roundTripper) RoundTrip(req *nethttp.Request) (*nethttp.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapitest: read request body: %w", err)
		}
		reqBody = b
		req = withBody(req, reqBody)
	}
	resp, err := rt.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("openapitest: read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if problems := rt.v.Check(req, reqBody, resp, respBody); len(problems) > 0 {
		rt.t.Helper()
		rt.t.Errorf("%s", Report(req, resp, problems))
	}
	return resp, nil
}

// Report formats the problems of one exchange for a test failure.
func Report(req *nethttp.Request, resp *nethttp.Response, problems []string) string {
	return fmt.Sprintf("openapi.yaml disagrees with %s %s → %d:\n  %s",
		req.Method, req.URL.Path, resp.StatusCode, strings.Join(problems, "\n  "))
}

// withBody returns a copy of req that reads body.
func withBody(req *nethttp.Request, body []byte) *nethttp.Request {
	r := req.Clone(context.WithoutCancel(req.Context()))
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return r
}

// unmatched reports whether errs say that the document has no operation
// for the request.
func unmatched(errs []*verrors.ValidationError) bool {
	for _, e := range errs {
		if e.ValidationType == helpers.PathValidation &&
			(e.ValidationSubType == helpers.ValidationMissing || e.ValidationSubType == helpers.ValidationMissingOperation) {
			return true
		}
	}
	return false
}

// routerAnswer reports whether resp is the router's own refusal of an
// unknown path or method: a 404 or 405 problem document.
func routerAnswer(resp *nethttp.Response, body []byte) bool {
	if resp.StatusCode != nethttp.StatusNotFound && resp.StatusCode != nethttp.StatusMethodNotAllowed {
		return false
	}
	if resp.Header.Get("Content-Type") != "application/problem+json" {
		return false
	}
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	return json.Unmarshal(body, &p) == nil && p.Status == resp.StatusCode && p.Code != ""
}

// describe renders validation errors, one line per schema violation.
func describe(what string, errs []*verrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		if len(e.SchemaValidationErrors) == 0 {
			out = append(out, fmt.Sprintf("%s: %s: %s", what, e.Message, e.Reason))
			continue
		}
		for _, se := range e.SchemaValidationErrors {
			at := se.FieldPath
			if at == "" {
				at = se.KeywordLocation
			}
			out = append(out, fmt.Sprintf("%s: %s: %s at %s", what, e.Message, se.Reason, at))
		}
	}
	return out
}
