package paystack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// number is an integer Paystack may send as a JSON number or a numeric
// string. Fractions are refused: amounts are minor units.
type number int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*n = 0
			return nil
		}
		b = []byte(s)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %.40q", b)
	}
	*n = number(v)
	return nil
}

// timestamp is an RFC 3339 time Paystack may send as null or "". An
// unreadable time becomes the zero time: it must not make a signed event
// (a payment) undecodable.
type timestamp time.Time

// UnmarshalJSON implements json.Unmarshaler.
func (t *timestamp) UnmarshalJSON(b []byte) error {
	*t = timestamp{}
	var s string
	if json.Unmarshal(b, &s) != nil || s == "" {
		return nil
	}
	if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
		*t = timestamp(v.UTC())
	}
	return nil
}

// text is a string Paystack may send as null or as a non-string scalar.
type text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case b[0] == '{' || b[0] == '[':
		return fmt.Errorf("expected a string")
	default:
		*t = text(b)
	}
	return nil
}

// customer is the customer object of transactions and events.
type customer struct {
	ID           number `json:"id"`
	Email        text   `json:"email"`
	CustomerCode text   `json:"customer_code"`
}

// recipientRef is a transfer's recipient: an integer id in the initiate
// answer, an object in verify answers and events.
type recipientRef struct {
	RecipientCode string
	Name          string
}

// UnmarshalJSON implements json.Unmarshaler.
func (r *recipientRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		*r = recipientRef{}
		return nil
	}
	var v struct {
		RecipientCode text `json:"recipient_code"`
		Name          text `json:"name"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = recipientRef{RecipientCode: string(v.RecipientCode), Name: string(v.Name)}
	return nil
}
