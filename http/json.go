package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
)

// strictJSON are the options every request body is decoded with. The v2
// decoder's defaults already match member names case-sensitively, refuse
// duplicate names anywhere in the document (nested objects and raw values
// included) and refuse invalid UTF-8; unknown members are refused too, so a
// misspelt or differently cased field is named instead of being ignored.
var strictJSON = jsonv2.JoinOptions(jsonv2.RejectUnknownMembers(true))

// maxFieldNameLen bounds how much of a client's member name a problem
// repeats.
const maxFieldNameLen = 100

// decodeJSON decodes a JSON request body into v. Malformed JSON is a 400;
// a field of the wrong type, an unknown field (names are case-sensitive)
// or a field given twice is a 422 naming the field.
func decodeJSON(rc *fasthttp.RequestCtx, v any) error {
	return decodeJSONBytes(rc.PostBody(), v)
}

func decodeJSONBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return vayva.Errorf(vayva.EBADREQUEST, "The request body must be a JSON object.")
	}
	if err := jsonv2.Unmarshal(body, v, strictJSON); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError turns a decoding error into a client error. It never repeats
// the decoder's own message, which may quote the body.
func jsonError(err error) error {
	var semErr *jsonv2.SemanticError
	var synErr *jsontext.SyntacticError
	switch {
	case errors.As(err, &synErr):
		if errors.Is(synErr.Err, jsontext.ErrDuplicateName) {
			return invalidField(fieldName(synErr.JSONPointer), "appears more than once")
		}
		return vayva.Errorf(vayva.EBADREQUEST, "The request body is not valid JSON.")
	case errors.As(err, &semErr):
		field := fieldName(semErr.JSONPointer)
		if errors.Is(semErr.Err, jsonv2.ErrUnknownName) {
			return invalidField(field, "is not a known field")
		}
		if semErr.JSONPointer == "" {
			return vayva.Errorf(vayva.EBADREQUEST, "The request body must be a JSON object.")
		}
		return invalidField(field, "must be "+jsonType(semErr.GoType))
	default:
		return vayva.Errorf(vayva.EBADREQUEST, "The request body is not valid JSON.")
	}
}

func invalidField(field, message string) error {
	return &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
		Fields: []vayva.FieldError{{Field: field, Message: message}}}
}

// fieldName spells a JSON pointer the way problems name fields:
// "/items/0/quantity" is "items[0].quantity". Long names are cut.
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.ParseUint(tok, 10, 31); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if tok == "" {
			tok = "(empty name)"
		}
		b.WriteString(tok)
	}
	name := b.String()
	if len(name) > maxFieldNameLen {
		cut := maxFieldNameLen
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut] + "…"
	}
	return name
}

// jsonType names the JSON type a Go type is decoded from.
func jsonType(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a valid value"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a valid value"
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

// requireJSONBody refuses a request body that is not labelled JSON with
// 415; a request without a body passes.
func requireJSONBody(rc *fasthttp.RequestCtx) error {
	if len(rc.PostBody()) == 0 || jsonMediaType(string(rc.Request.Header.ContentType())) {
		return nil
	}
	return vayva.Errorf(vayva.EUNSUPPORTEDMEDIATYPE, "Request bodies must be application/json (charset utf-8).")
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
