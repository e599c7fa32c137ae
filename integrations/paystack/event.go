package paystack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// ParseEvent decodes a webhook body. Verify the signature first.
//
// It runs on the webhook edge's hot path, so it walks the body once with
// a streaming decoder (pooled, reading the body in place) instead of
// unmarshalling through reflection. A signed body is Paystack's and must
// not become undecodable (a lost payment) over what strict JSON refuses:
// a repeated member name takes the last value and invalid UTF-8 is
// accepted, as encoding/json does. Member names match exactly (Paystack's
// are lowercase snake_case). Numbers may come as JSON numbers or numeric
// strings, text as any scalar, and an unreadable paid_at or customer
// becomes empty rather than an error.
func ParseEvent(body []byte) (Event, error) {
	p := eventParsers.Get().(*eventParser)
	defer eventParsers.Put(p)
	*p.in = *bytes.NewBuffer(body)
	p.dec.Reset(p.in, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	ev, err := p.event(body)
	// Drop the references to body before the parser goes back to the pool.
	*p.in = bytes.Buffer{}
	p.dec.Reset(p.in)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return ev, nil
}

type eventParser struct {
	in  *bytes.Buffer
	dec *jsontext.Decoder
}

var eventParsers = sync.Pool{New: func() any {
	in := new(bytes.Buffer)
	return &eventParser{in: in, dec: jsontext.NewDecoder(in)}
}}

var errNotObject = errors.New("data is not an object")

func (p *eventParser) event(body []byte) (Event, error) {
	dec := p.dec
	ev := Event{Raw: json.RawMessage(body)}
	dataSeen := false
	err := members(dec, func(name []byte) error {
		switch string(name) {
		case "event":
			s, err := readText(dec)
			ev.Event = s
			return err
		case "data":
			start := dec.InputOffset()
			if dec.PeekKind() != '{' {
				dataSeen = false
				return dec.SkipValue()
			}
			var d EventData
			if err := p.data(&d); err != nil {
				return err
			}
			// The object's bytes follow the name's ':' and whitespace.
			d.Raw = json.RawMessage(bytes.TrimLeft(body[start:dec.InputOffset()], " \t\r\n:"))
			ev.Data, dataSeen = d, true
			return nil
		}
		return dec.SkipValue()
	})
	if err != nil {
		return Event{}, err
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return Event{}, errors.New("data after the event")
	}
	if ev.Event == "" || len(ev.Event) > 100 {
		return Event{}, errors.New("no event name")
	}
	if !dataSeen {
		return Event{}, errNotObject
	}
	return ev, nil
}

// data reads the event's data object into d.
func (p *eventParser) data(d *EventData) error {
	dec := p.dec
	return members(dec, func(name []byte) error {
		var err error
		switch string(name) {
		case "id":
			d.ID, err = readNumber(dec)
		case "reference":
			d.Reference, err = readText(dec)
		case "amount":
			d.Amount, err = readNumber(dec)
		case "currency":
			d.Currency, err = readText(dec)
		case "status":
			d.Status, err = readText(dec)
		case "fees":
			d.Fees, err = readNumber(dec)
		case "domain":
			d.Domain, err = readText(dec)
		case "channel":
			d.Channel, err = readText(dec)
		case "gateway_response":
			d.GatewayResponse, err = readText(dec)
		case "paid_at":
			d.PaidAt, err = readTime(dec)
		case "customer":
			d.CustomerEmail, err = readCustomerEmail(dec)
		case "metadata":
			var v jsontext.Value
			if v, err = dec.ReadValue(); err == nil {
				d.Metadata = json.RawMessage(bytes.Clone(v))
			}
		case "transfer_code":
			d.TransferCode, err = readText(dec)
		case "recipient":
			d.RecipientCode, err = readRecipientCode(dec)
		case "reason":
			d.Reason, err = readText(dec)
		case "transaction_reference":
			d.TransactionReference, err = readText(dec)
		case "refund_reference":
			d.RefundReference, err = readText(dec)
		default:
			err = dec.SkipValue()
		}
		return err
	})
}

// members reads an object, calling member for each name with the decoder
// before the member's value, which member must consume (a non-nil error
// aborts). The name is valid only during the call.
func members(dec *jsontext.Decoder, member func(name []byte) error) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return errNotObject
	}
	for dec.PeekKind() != '}' {
		raw, err := dec.ReadValue()
		if err != nil {
			return err
		}
		name := raw[1 : len(raw)-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			if name, err = jsontext.AppendUnquote(nil, raw); err != nil {
				return err
			}
		}
		if err := member(name); err != nil {
			return err
		}
	}
	_, err = dec.ReadToken()
	return err
}

// readText reads a string; null is "" and another scalar its JSON text.
// Objects and arrays are refused.
func readText(dec *jsontext.Decoder) (string, error) {
	switch dec.PeekKind() {
	case '{', '[':
		if err := dec.SkipValue(); err != nil {
			return "", err
		}
		return "", errors.New("expected a string")
	}
	tok, err := dec.ReadToken()
	if err != nil || tok.Kind() == 'n' {
		return "", err
	}
	return tok.String(), nil
}

// readNumber reads an integer sent as a JSON number or a numeric string;
// null and "" are 0. Fractions are refused: amounts are minor units.
func readNumber(dec *jsontext.Decoder) (int64, error) {
	s, err := readText(dec)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not an integer: %.40q", s)
	}
	return n, nil
}

// readTime reads an RFC 3339 time; anything else is the zero time, never
// an error.
func readTime(dec *jsontext.Decoder) (time.Time, error) {
	if dec.PeekKind() != '"' {
		return time.Time{}, dec.SkipValue()
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, tok.String())
	if err != nil {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}

// readCustomerEmail reads a customer object's email. A customer that is
// not an object, or whose id, email or customer_code cannot be read, has
// no email; it is never an error.
func readCustomerEmail(dec *jsontext.Decoder) (string, error) {
	if dec.PeekKind() != '{' {
		return "", dec.SkipValue()
	}
	var email string
	bad := false
	err := members(dec, func(name []byte) error {
		var err error
		switch string(name) {
		case "email":
			email, err = readText(dec)
		case "id":
			_, err = readNumber(dec)
		case "customer_code":
			_, err = readText(dec)
		default:
			return dec.SkipValue()
		}
		// readText and readNumber consume their value even when they
		// refuse it, so the walk goes on.
		if err != nil {
			var se *jsontext.SyntacticError
			if errors.As(err, &se) {
				return err
			}
			bad = true
		}
		return nil
	})
	if err != nil || bad {
		return "", err
	}
	return email, nil
}

// readRecipientCode reads a transfer recipient's code: the object of
// events and verify answers; another value (the initiate answer's integer
// id) has none.
func readRecipientCode(dec *jsontext.Decoder) (string, error) {
	if dec.PeekKind() != '{' {
		return "", dec.SkipValue()
	}
	var code string
	err := members(dec, func(name []byte) error {
		var err error
		switch string(name) {
		case "recipient_code":
			code, err = readText(dec)
		case "name":
			_, err = readText(dec)
		default:
			err = dec.SkipValue()
		}
		return err
	})
	return code, err
}
