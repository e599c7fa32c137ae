package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
)

// decodeJSON decodes a JSON request body into v. Malformed JSON is a 400;
// a field of the wrong type or an unknown field is a 422 naming the field.
func decodeJSON(rc *fasthttp.RequestCtx, v any) error {
	return decodeJSONBytes(rc.PostBody(), v)
}

func decodeJSONBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return vayva.Errorf(vayva.EBADREQUEST, "The request body must be a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return vayva.Errorf(vayva.EBADREQUEST, "The request body must hold exactly one JSON value.")
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return vayva.Errorf(vayva.EBADREQUEST, "The request body must be a JSON object.")
		}
		return &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: field, Message: fmt.Sprintf("must be a %s", jsonType(typeErr.Type.Kind().String()))}}}
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return vayva.Errorf(vayva.EBADREQUEST, "The request body is not valid JSON.")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if field == "" {
			field = "(empty name)"
		}
		return &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: field, Message: "is not a known field"}}}
	default:
		return vayva.Errorf(vayva.EBADREQUEST, "The request body is not valid JSON.")
	}
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "integer"
	case strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "slice", kind == "array":
		return "list"
	case kind == "map", kind == "struct", kind == "ptr":
		return "object"
	}
	return kind
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(rc *fasthttp.RequestCtx, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("http: encode response: %w", err)
	}
	rc.Response.SetStatusCode(status)
	rc.Response.Header.SetContentType("application/json")
	rc.Response.SetBodyRaw(body)
	return nil
}
