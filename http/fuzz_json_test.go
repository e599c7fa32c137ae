package http

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"mime"
	"reflect"
	"strings"
	"testing"

	"github.com/vayvahq/vayva"
)

// fuzzBody is a request body with the shapes the edge decodes: scalars,
// pointers, a nested object, a list of objects and raw list elements.
type fuzzBody struct {
	Name    string  `json:"name"`
	Count   int     `json:"count"`
	Email   *string `json:"email"`
	Address *struct {
		City string `json:"city"`
	} `json:"address"`
	Items []struct {
		ID       string `json:"id"`
		Quantity uint32 `json:"quantity"`
	} `json:"items"`
	Raw      []stdjson.RawMessage `json:"raw"`
	Settings stdjson.RawMessage   `json:"settings"`
}

// FuzzDecodeJSON checks that no body makes the decoder panic, that every
// refusal is a client error naming at most one short field, and that a
// body the strict decoder accepts means what the standard library's
// decoder reads from it: strictness only refuses, it never reinterprets.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"a","count":1}`, `{"name":`, `[]`, `{"count":"x"}`, `{"extra":1}`, `null`, `{} {}`, "",
		`{"NAME":"a"}`, `{"name":"a","name":"b"}`, `{"n\u0061me":"a","name":"b"}`, `{"items":[{"id":"x","quantity":2},{"id":"y","ID":"z"}]}`,
		`{"raw":[{"a":1,"a":2}]}`, `{"settings":{"x":{"y":1,"y":2}}}`, `{"address":{"city":"Lagos","City":"Abuja"}}`,
		"{\"name\":\"\xff\"}", `{"items":[{"quantity":-1}]}`, `{"email":null,"count":1e3}`, `{"settings":[1,2,{"k":"v"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v fuzzBody
		err := decodeJSONBytes(body, &v)
		if err != nil {
			switch vayva.ErrorCode(err) {
			case vayva.EBADREQUEST, vayva.EINVALID:
			default:
				t.Fatalf("decode refused with %v, want a client error", err)
			}
			if s := statusOf(err); s < 400 || s >= 500 {
				t.Fatalf("status %d for %v", s, err)
			}
			var e *vayva.Error
			if !errors.As(err, &e) {
				t.Fatalf("decode refused with %T, want a *vayva.Error", err)
			}
			if len(e.Fields) > 1 {
				t.Fatalf("%d fields for one decoding error", len(e.Fields))
			}
			for _, fe := range e.Fields {
				if fe.Field == "" || fe.Message == "" || len(fe.Field) > maxFieldNameLen+len("…") {
					t.Fatalf("field error %+v", fe)
				}
			}
			return
		}
		var want fuzzBody
		dec := stdjson.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("strict decoding accepted %q, the standard decoder refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(canonical(t, v), canonical(t, want)) {
			t.Fatalf("%q decodes to %+v, the standard decoder reads %+v", body, v, want)
		}
	})
}

// canonical re-encodes v so that raw values compare by meaning, not by
// their spacing.
func canonical(t *testing.T, v fuzzBody) any {
	t.Helper()
	raw, err := stdjson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := stdjson.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzJSONMediaType checks that no Content-Type header makes the check
// panic and that only application/json, with at most a utf-8 charset,
// passes.
func FuzzJSONMediaType(f *testing.F) {
	for _, s := range []string{"application/json", "application/json; charset=utf-8", `APPLICATION/JSON;CHARSET="UTF-8"`,
		"text/plain", "application/json; charset=latin1", "application/json;;", "application/jsonp", "", ";", "application/json; a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		if !jsonMediaType(ct) {
			return
		}
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" || len(params) > 1 {
			t.Fatalf("%q passed: %q %v %v", ct, mt, params, err)
		}
		if cs, ok := params["charset"]; len(params) == 1 && (!ok || !strings.EqualFold(cs, "utf-8")) {
			t.Fatalf("%q passed with %v", ct, params)
		}
	})
}
