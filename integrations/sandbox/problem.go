package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/vayvahq/vayva"
)

// The sandbox's own control routes (checkout page and pay, mailbox,
// outbox, simulated inbound messages and subscriptions, Kwik advance and
// list, Resend faults, the webhook log) answer every failure the way the
// node's routes do: an RFC 9457 problem document with the node's error
// codes. The fake provider APIs answer in their provider's own error
// format instead, because the real clients parse it.

// problem is a problem document, shaped as the edge writes them.
type problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Detail string             `json:"detail"`
	Code   string             `json:"code"`
	Errors []vayva.FieldError `json:"errors,omitempty"`
}

// codeStatus is the status of each code a control route answers with; it
// follows the edge's table.
var codeStatus = map[string]int{
	vayva.EBADREQUEST:           http.StatusBadRequest,
	vayva.EINVALID:              http.StatusUnprocessableEntity,
	vayva.ENOTFOUND:             http.StatusNotFound,
	vayva.ECONFLICT:             http.StatusConflict,
	vayva.ETOOLARGE:             http.StatusRequestEntityTooLarge,
	vayva.EUNSUPPORTEDMEDIATYPE: http.StatusUnsupportedMediaType,
	vayva.EINTERNAL:             http.StatusInternalServerError,
}

// writeProblem answers a control route's failure.
func writeProblem(w http.ResponseWriter, code, detail string, fields ...vayva.FieldError) {
	status, ok := codeStatus[code]
	if !ok {
		status = http.StatusBadRequest
	}
	body, _ := json.Marshal(problem{
		Type: vayva.ProblemType(code), Title: http.StatusText(status), Status: status, Detail: detail, Code: code, Errors: fields,
	})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// invalidField answers a control route's request whose field has a value
// the route cannot use.
func invalidField(w http.ResponseWriter, field, message string) {
	writeProblem(w, vayva.EINVALID, "The request has invalid fields.", vayva.FieldError{Field: field, Message: message})
}

// jsonMediaType reports whether a Content-Type header labels a JSON body:
// application/json, with no parameter but charset=utf-8.
func jsonMediaType(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

// readControlBody reads a control route's body of at most 1 MiB. A
// failure has been answered when ok is false.
func readControlBody(w http.ResponseWriter, r *http.Request) (body []byte, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeProblem(w, vayva.ETOOLARGE, "Request bodies are limited to 1 MiB.")
		return nil, false
	case err != nil:
		writeProblem(w, vayva.EBADREQUEST, "The request body could not be read.")
		return nil, false
	}
	return body, true
}

// readControlJSON decodes a control route's JSON body into v. A body must
// be labelled application/json; with optional set, an empty body leaves v
// as it is. A failure has been answered when ok is false.
func readControlJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) (ok bool) {
	body, ok := readControlBody(w, r)
	if !ok {
		return false
	}
	return decodeControlJSON(w, r, body, v, optional)
}

func decodeControlJSON(w http.ResponseWriter, r *http.Request, body []byte, v any, optional bool) bool {
	switch {
	case len(body) == 0 && optional:
		return true
	case len(body) > 0 && !jsonMediaType(r.Header.Get("Content-Type")):
		writeProblem(w, vayva.EUNSUPPORTEDMEDIATYPE, "Request bodies must be application/json (charset utf-8).")
		return false
	case len(bytes.TrimSpace(body)) == 0:
		writeProblem(w, vayva.EBADREQUEST, "The request body must be a JSON object.")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			invalidField(w, typeErr.Field, "has the wrong type")
			return false
		}
		writeProblem(w, vayva.EBADREQUEST, "The request body is not a valid JSON object.")
		return false
	}
	return true
}
